//! The committed headers equal a fresh cbindgen run (build.rs writes it to OUT_DIR).
//! On a difference: `make header`, then commit include/.

#[test]
fn c_header_is_fresh() {
    let fresh = include_str!(concat!(env!("OUT_DIR"), "/callconnect.h"));
    let committed = include_str!("../include/callconnect.h");
    assert!(
        fresh == committed,
        "include/callconnect.h is stale: run `make header` and commit it"
    );
}

#[test]
fn php_header_is_fresh() {
    let fresh = include_str!(concat!(env!("OUT_DIR"), "/callconnect_php.h"));
    let committed = include_str!("../include/callconnect_php.h");
    assert!(
        fresh == committed,
        "include/callconnect_php.h is stale: run `make header` and commit it"
    );
    // PHP's FFI::load takes no preprocessor line but FFI_SCOPE and FFI_LIB.
    for line in committed
        .lines()
        .filter(|l| l.trim_start().starts_with('#'))
    {
        assert!(
            line.starts_with("#define FFI_SCOPE ") || line.starts_with("#define FFI_LIB "),
            "{line}"
        );
    }
}

#[test]
fn header_version_macros_match_the_crate() {
    let h = include_str!("../include/callconnect.h");
    for (name, value) in [
        ("CALLCONNECT_VERSION_MAJOR", env!("CARGO_PKG_VERSION_MAJOR")),
        ("CALLCONNECT_VERSION_MINOR", env!("CARGO_PKG_VERSION_MINOR")),
        ("CALLCONNECT_VERSION_PATCH", env!("CARGO_PKG_VERSION_PATCH")),
    ] {
        assert!(h.contains(&format!("#define {name} {value}\n")), "{name}");
    }
}
