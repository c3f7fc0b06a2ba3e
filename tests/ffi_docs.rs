//! Every function of the C header says, in the comment cbindgen copies above it, who
//! owns what (`Ownership:`), from which threads it may be called (`Thread safety:`), and
//! what it can fail with (`Returns ...` naming the cc_result values, or `Errors: ...`
//! for a function that returns no cc_result). Every cc_result a comment names exists.

const HEADER: &str = include_str!("../include/callconnect.h");

/// The enumerators of `enum cc_result`.
fn result_names(header: &str) -> Vec<String> {
    let start = header.find("enum cc_result").expect("enum cc_result");
    let body = &header[start..start + header[start..].find("};").expect("end of enum")];
    body.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("CC_") && l.contains('='))
        .map(|l| l[..l.find([' ', '=']).unwrap()].to_string())
        .collect()
}

/// The `CC_OK` / `CC_ERR_*` words of a text.
fn result_words(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| *w == "CC_OK" || w.starts_with("CC_ERR_"))
        .collect()
}

/// Each function declaration of the header with the comment lines just above it.
fn declarations(header: &str) -> Vec<(String, bool, Vec<String>)> {
    let lines: Vec<&str> = header.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if !line.starts_with(|c: char| c.is_ascii_lowercase()) || line.starts_with("typedef") {
            continue;
        }
        let Some(open) = line.find('(') else { continue };
        let Some(name) = line[..open].rsplit([' ', '*']).next() else {
            continue;
        };
        if !name.starts_with("cc_") {
            continue;
        }
        let mut comment: Vec<String> = lines[..i]
            .iter()
            .rev()
            .take_while(|l| l.starts_with("//"))
            .map(|l| l.trim_start_matches('/').trim().to_string())
            .collect();
        comment.reverse();
        out.push((name.to_string(), line.starts_with("cc_result "), comment));
    }
    out
}

/// What is missing from the header's function comments, one line per gap.
fn problems(header: &str) -> Vec<String> {
    let known = result_names(header);
    let mut found = Vec::new();
    for (name, returns_result, comment) in declarations(header) {
        let has = |prefix: &str| comment.iter().any(|l| l.starts_with(prefix));
        if !has("Ownership:") {
            found.push(format!("{name}: no `Ownership:` line"));
        }
        if !has("Thread safety:") {
            found.push(format!("{name}: no `Thread safety:` line"));
        }
        // The paragraph from `Returns` (or `Errors:`) to the next blank comment line.
        let start = comment
            .iter()
            .position(|l| l.starts_with("Returns ") || l.starts_with("Errors:"));
        let errors = match start {
            Some(s) => comment[s..]
                .iter()
                .take_while(|l| !l.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join(" "),
            None => {
                found.push(format!("{name}: no `Returns` or `Errors:` line"));
                String::new()
            }
        };
        if returns_result && !errors.is_empty() {
            if !errors.starts_with("Returns ") {
                found.push(format!(
                    "{name}: returns a cc_result but has no `Returns` line"
                ));
            }
            // Every function runs inside the panic boundary.
            if !result_words(&errors).contains(&"CC_ERR_INTERNAL") {
                found.push(format!("{name}: `Returns` does not name CC_ERR_INTERNAL"));
            }
        }
        for w in result_words(&comment.join(" ")) {
            if !known.iter().any(|k| k == w) {
                found.push(format!("{name}: names {w}, which is no cc_result"));
            }
        }
    }
    found
}

#[test]
fn every_function_documents_ownership_threads_and_errors() {
    assert!(
        declarations(HEADER).len() >= 40,
        "{:?}",
        declarations(HEADER)
    );
    assert_eq!(
        result_names(HEADER).first().map(String::as_str),
        Some("CC_OK")
    );
    let found = problems(HEADER);
    assert!(
        found.is_empty(),
        "include/callconnect.h:\n{}\n(document it in src/ffi, then `make header`)",
        found.join("\n")
    );
}

#[test]
fn the_check_finds_a_missing_line_and_an_unknown_result() {
    let enum_part = "enum cc_result\n {\n  CC_OK = 0,\n  CC_ERR_INTERNAL = 12,\n};\n\n";
    let good = "// Does a thing.\n//\n// Ownership: nothing.\n// Thread safety: any thread.\n//\n// Returns CC_OK,\n// CC_ERR_INTERNAL.\ncc_result cc_thing(void);\n";
    assert_eq!(
        problems(&format!("{enum_part}{good}")),
        Vec::<String>::new()
    );
    let cases = [
        (
            good.replace("// Ownership: nothing.\n", ""),
            "no `Ownership:`",
        ),
        (
            good.replace("// Thread safety: any thread.\n", ""),
            "no `Thread safety:`",
        ),
        (
            good.replace("// Returns CC_OK,\n// CC_ERR_INTERNAL.\n", ""),
            "no `Returns`",
        ),
        (
            good.replace("// CC_ERR_INTERNAL.", "// CC_ERR_BUSY."),
            "CC_ERR_BUSY, which is no",
        ),
        (
            good.replace(
                "\n//\n// Returns CC_OK,\n// CC_ERR_INTERNAL.",
                "\n//\n// Returns CC_OK.\n//\n// CC_ERR_INTERNAL.",
            ),
            "does not name CC_ERR_INTERNAL",
        ),
        (
            good.replace("// Returns CC_OK,", "// Errors: CC_OK,"),
            "has no `Returns` line",
        ),
    ];
    for (text, expected) in cases {
        let found = problems(&format!("{enum_part}{text}"));
        assert!(
            found.iter().any(|p| p.contains(expected)),
            "{expected}: {found:?}"
        );
    }
}
