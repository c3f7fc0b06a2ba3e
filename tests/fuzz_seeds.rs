//! Every fuzz target's committed seeds, run through its entry point in `make test`: the
//! carriers' documented examples must never make a parser panic. (`make fuzz` goes on
//! from these seeds with coverage guidance.)

use std::path::Path;

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("call42_envelope", callconnect::fuzzing::call42_envelope),
    ("dsn", callconnect::fuzzing::dsn),
    ("call_reference", callconnect::fuzzing::call_reference),
    ("number", callconnect::fuzzing::number),
    ("money", callconnect::fuzzing::money),
    ("poketalk_reply", callconnect::fuzzing::poketalk_reply),
    ("connectcall_xml", callconnect::fuzzing::connectcall_xml),
    ("voipnow_json", callconnect::fuzzing::voipnow_json),
    ("event_query", callconnect::fuzzing::event_query),
];

#[test]
fn every_target_has_seeds_and_survives_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    for (name, target) in TARGETS {
        let dir = root.join(name);
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            target(&data);
            // Cut short and with a stray byte: the forms a broken reply takes.
            target(&data[..data.len() / 2]);
            let mut odd = data.clone();
            odd.push(0xff);
            target(&odd);
            seen += 1;
        }
        assert!(seen > 0, "no seeds for {name}");
    }
    // Every target in fuzz/ is in the table above.
    let listed = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets"))
        .unwrap()
        .count();
    assert_eq!(
        listed,
        TARGETS.len(),
        "a fuzz target is missing from this test's table"
    );
}
