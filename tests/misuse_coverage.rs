//! Every function of the C header is in the misuse matrix of each host (C, Python
//! ctypes, PHP FFI): a new function fails this test until its line is added there.

fn declared() -> Vec<String> {
    let header = include_str!("../include/callconnect.h");
    let mut names: Vec<String> = header
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase()))
        .filter_map(|l| {
            let open = l.find('(')?;
            let name = l[..open].rsplit([' ', '*']).next()?;
            name.starts_with("cc_").then(|| name.to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn the_header_declares_what_we_expect() {
    let names = declared();
    assert!(names.len() >= 20, "{names:?}");
    for n in ["cc_start_call", "cc_client_free", "cc_last_error_message"] {
        assert!(names.iter().any(|x| x == n), "{n}");
    }
}

#[test]
fn every_function_is_in_every_misuse_matrix() {
    for (host, text) in [
        ("tests/c/test_misuse.c", include_str!("c/test_misuse.c")),
        (
            "tests/python/test_misuse.py",
            include_str!("python/test_misuse.py"),
        ),
        (
            "tests/php/test_misuse.php",
            include_str!("php/test_misuse.php"),
        ),
    ] {
        let missing: Vec<String> = declared()
            .into_iter()
            .filter(|n| !text.contains(&format!("\"{n}\"")) && !text.contains(&format!("'{n}'")))
            .collect();
        assert!(
            missing.is_empty(),
            "{host} has no misuse cases for {missing:?}: add a line to its table"
        );
    }
}
