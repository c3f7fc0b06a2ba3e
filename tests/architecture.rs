//! The layers of `src/` import only downward.
//!
//! The order is the fenced `layers` block at the top of `docs/DESIGN.md`: one line per
//! layer, top first, the top-level modules of `src/` on it. Every `crate::` path in every
//! source file is read; a file may use its own module and the modules of lower layers
//! only. An import that runs upward or sideways (between two modules of one layer), a
//! module missing from the block, and a loop in the module graph all fail.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The layers, top first, from `docs/DESIGN.md`.
fn layers() -> Vec<Vec<String>> {
    let design = fs::read_to_string(root().join("docs/DESIGN.md")).expect("docs/DESIGN.md");
    let start = design
        .find("```layers\n")
        .expect("docs/DESIGN.md has a ```layers block");
    let body = &design[start + "```layers\n".len()..];
    let end = body.find("```").expect("the layers block is closed");
    body[..end]
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
        .filter(|l| !l.is_empty())
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`src/events/spool.rs`: `events`);
/// `None` for `lib.rs`, the crate root that declares them all.
fn module_of(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    if first == "lib.rs" {
        return None;
    }
    Some(first.trim_end_matches(".rs").to_string())
}

/// The top-level modules named by the `crate::` paths of a source text (comments
/// aside): `crate::model::X`, `crate::{model::X, money::Money}`.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let before = &rest[..i];
            let after = &rest[i + "crate::".len()..];
            rest = after;
            if before.ends_with('$') || before.ends_with(|c: char| c.is_alphanumeric() || c == '_')
            {
                continue; // `$crate::` in a macro, or a longer identifier
            }
            if let Some(group) = after.strip_prefix('{') {
                let group = group.split('}').next().unwrap_or("");
                for item in group.split(',') {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        out.insert(name);
                    }
                }
            } else {
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        }
    }
    out
}

/// Every module's imports of other modules, with the files they come from.
fn graph() -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut g: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().to_path_buf();
        let Some(from) = module_of(&rel) else {
            continue;
        };
        let text = fs::read_to_string(&f).unwrap();
        let entry = g.entry(from.clone()).or_default();
        for to in crate_paths(&text) {
            // Items of the crate root (`crate::Money`, re-exports) name no module.
            if to == from || to.starts_with(|c: char| c.is_uppercase()) {
                continue;
            }
            entry.entry(to).or_default().push(rel.display().to_string());
        }
    }
    g
}

/// Upward or sideways imports, and modules missing from the layers.
fn violations(
    layers: &[Vec<String>],
    g: &BTreeMap<String, BTreeMap<String, Vec<String>>>,
) -> Vec<String> {
    let rank: BTreeMap<&str, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, l)| l.iter().map(move |m| (m.as_str(), i)))
        .collect();
    let mut bad = Vec::new();
    for (from, tos) in g {
        let Some(&rf) = rank.get(from.as_str()) else {
            bad.push(format!("module {from} is in no layer of docs/DESIGN.md"));
            continue;
        };
        for (to, files) in tos {
            match rank.get(to.as_str()) {
                None => bad.push(format!("{from} -> {to}: {to} is in no layer ({files:?})")),
                Some(&rt) if rt <= rf => bad.push(format!(
                    "{from} -> {to} runs {} ({files:?})",
                    if rt == rf { "sideways" } else { "upward" }
                )),
                Some(_) => {}
            }
        }
    }
    bad
}

/// A loop in the module graph, if there is one (as `a -> b -> a`).
fn find_loop(g: &BTreeMap<String, BTreeMap<String, Vec<String>>>) -> Option<String> {
    fn visit(
        m: &str,
        g: &BTreeMap<String, BTreeMap<String, Vec<String>>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<String> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut cycle = path[i..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle.join(" -> "));
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for to in g.get(m).into_iter().flat_map(|t| t.keys()) {
            if let Some(c) = visit(to, g, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    g.keys()
        .find_map(|m| visit(m, g, &mut Vec::new(), &mut done))
}

#[test]
fn imports_run_only_downward() {
    let layers = layers();
    assert!(layers.len() >= 5, "{layers:?}");
    let g = graph();
    let bad = violations(&layers, &g);
    assert!(
        bad.is_empty(),
        "imports against docs/DESIGN.md's layers:\n{}",
        bad.join("\n")
    );
    assert_eq!(find_loop(&g), None);
}

#[test]
fn the_checker_sees_what_it_must() {
    let paths = crate_paths(
        "use crate::model::{A, B};\nuse crate::{money::Money, util::lock};\n\
         // use crate::ffi::X;\nlet x = $crate::log::emit();\nlet y = crate::dsn::Dsn::parse(s);",
    );
    let want: BTreeSet<String> = ["model", "money", "util", "dsn"].map(String::from).into();
    assert_eq!(paths, want);
    let layers = vec![
        vec!["a".to_string()],
        vec!["b".to_string(), "c".to_string()],
    ];
    let edge = |from: &str, to: &str| {
        let mut g: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        g.entry(from.into()).or_default().insert(to.into(), vec![]);
        g
    };
    assert!(violations(&layers, &edge("a", "b")).is_empty());
    assert_eq!(violations(&layers, &edge("b", "a")).len(), 1);
    assert_eq!(violations(&layers, &edge("b", "c")).len(), 1);
    assert_eq!(violations(&layers, &edge("b", "z")).len(), 1);
    let mut g = edge("a", "b");
    g.entry("b".into()).or_default().insert("a".into(), vec![]);
    assert_eq!(find_loop(&g).as_deref(), Some("a -> b -> a"));
}
