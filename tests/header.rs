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

#[test]
fn version_names_the_tls_stack_of_the_lock_file() {
    // SAFETY: cc_version returns a static NUL-terminated string.
    let v = unsafe { std::ffi::CStr::from_ptr(callconnect::ffi::cc_version()) }
        .to_str()
        .unwrap();
    assert!(
        v.starts_with(&format!("callconnect {} (", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
    // The HTTP and TLS crates named by cc_version are the ones Cargo.lock builds, by their
    // semver-compatible part (`ureq 3`, `rustls 0.23`).
    let lock = include_str!("../Cargo.lock");
    for name in ["ureq", "rustls"] {
        let entry = format!("name = \"{name}\"\nversion = \"");
        let at = lock.find(&entry).expect(name) + entry.len();
        let full = &lock[at..at + lock[at..].find('"').unwrap()];
        let mut parts = full.split('.');
        let major = parts.next().unwrap();
        let compatible = if major == "0" {
            format!("0.{}", parts.next().unwrap())
        } else {
            major.to_string()
        };
        assert!(
            v.contains(&format!("{name} {compatible}")),
            "cc_version says {v:?}, Cargo.lock builds {name} {full}"
        );
    }
}
