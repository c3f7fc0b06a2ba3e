//! The vendored phonenumber reads numbers as libphonenumber does: its answers for
//! numbers near every example number of the metadata, written in full and as people of
//! each region write them, against libphonenumber's own (tests/data, written by
//! tools/libphonenumber_answers.py from the Python port of the same metadata release).

#[path = "common/answers.rs"]
mod answers;

/// The vendored crate's answer, in the same terms.
fn answer(region: &str, text: &str) -> String {
    let region = (region != "-").then(|| region.parse::<phonenumber::country::Id>().unwrap());
    match phonenumber::parse(region, text) {
        Err(_) => "error".into(),
        Ok(n) if !phonenumber::is_valid(&n) => "invalid".into(),
        Ok(n) => n.format().mode(phonenumber::Mode::E164).to_string(),
    }
}

#[test]
fn numbers_read_as_libphonenumber_reads_them() {
    let answers = answers::libphonenumber_answers();
    let valid = answers.iter().filter(|a| a.2.starts_with('+')).count();
    assert!(
        valid > 10_000 && answers.len() - valid > 10_000,
        "{valid} of {}",
        answers.len()
    );
    let mut differ = Vec::new();
    for (region, text, expected) in &answers {
        let got = answer(region, text);
        if &got != expected {
            differ.push(format!(
                "{region} {text:?}: {got}, libphonenumber {expected}"
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {} differ:\n{}",
        differ.len(),
        answers.len(),
        differ.join("\n")
    );
}
