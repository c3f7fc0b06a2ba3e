// libphonenumber's answers for numbers near every example number of the metadata
// (tests/data/libphonenumber-answers.tsv, written by tools/libphonenumber_answers.py),
// read by tests/number_answers.rs and callconnect's `src/number.rs` tests.

/// Each answer: the default region (`-` for none), the text, and libphonenumber's answer
/// (`error`, `invalid`, or the number in E.164).
pub fn libphonenumber_answers() -> Vec<(String, String, String)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/libphonenumber-answers.tsv"
    );
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 3, "{l}");
            (f[0].to_string(), f[1].to_string(), f[2].to_string())
        })
        .collect()
}
