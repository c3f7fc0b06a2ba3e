//! Generates the C header (and its PHP FFI flavour) from `src/ffi` into OUT_DIR.
//! `make header` copies them to `include/`; a test fails when they differ.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");
    let major_v = env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        // The soname names the ABI generation (see the README's ABI policy).
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libcallconnect.so.{major_v}");
        // CALLCONNECT_RELR=1: relative relocations packed (DT_RELR), about 300 KiB less
        // library. Needs glibc 2.36 at run time (Debian 12, RHEL 10), so not the default.
        println!("cargo:rerun-if-env-changed=CALLCONNECT_RELR");
        if env::var("CALLCONNECT_RELR").as_deref() == Ok("1") {
            println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs");
        }
        hot_code_first();
    }
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let mut config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let major = env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
    let minor = env::var("CARGO_PKG_VERSION_MINOR").unwrap();
    let patch = env::var("CARGO_PKG_VERSION_PATCH").unwrap();
    config.after_includes = Some(format!(
        "\n#define CALLCONNECT_VERSION_MAJOR {major}\n#define CALLCONNECT_VERSION_MINOR {minor}\n#define CALLCONNECT_VERSION_PATCH {patch}\n#define CALLCONNECT_VERSION \"{major}.{minor}.{patch}\"\n"
    ));
    // Every file of src/ffi is part of the C ABI (mod.rs first, then by name).
    let mut sources: Vec<PathBuf> = fs::read_dir(crate_dir.join("src/ffi"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    sources.sort_by_key(|p| (p.file_name().unwrap() != "mod.rs", p.clone()));
    // cbindgen follows `mod x;` from mod.rs by itself: a file declared there is read
    // through it, and feeding it again would declare its items twice.
    let mod_rs = fs::read_to_string(crate_dir.join("src/ffi/mod.rs")).unwrap_or_default();
    let declared: Vec<String> = mod_rs
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            l.strip_prefix("mod ")?
                .strip_suffix(';')
                .map(|m| m.trim().to_string())
        })
        .collect();
    sources.retain(|p| {
        let stem = p.file_stem().unwrap().to_string_lossy().to_string();
        !declared.contains(&stem)
    });
    let with_sources = |mut b: cbindgen::Builder| {
        for s in &sources {
            b = b.with_src(s);
        }
        b
    };
    let c_header = out.join("callconnect.h");
    with_sources(cbindgen::Builder::new())
        .with_config(config.clone())
        .generate()
        .expect("cbindgen could not generate the header")
        .write_to_file(&c_header);

    // The PHP flavour: the same declarations, plain C, no comments, and no preprocessor
    // lines but FFI_SCOPE and FFI_LIB (PHP's FFI::load accepts nothing else).
    let mut php = config;
    php.documentation = false;
    php.include_guard = None;
    php.sys_includes = Vec::new();
    php.after_includes = None;
    php.header = Some(format!(
        "#define FFI_SCOPE \"CALLCONNECT\"\n#define FFI_LIB \"libcallconnect.so.{major}\""
    ));
    let php_header = out.join("callconnect_php.h");
    with_sources(cbindgen::Builder::new())
        .with_config(php)
        .generate()
        .expect("cbindgen could not generate the PHP header")
        .write_to_file(&php_header);
    let text = fs::read_to_string(&php_header).unwrap();
    fs::write(&php_header, plain_c(&text)).unwrap();
}

/// Resolves the header's conditionals as a C99 compiler would (`__cplusplus` undefined,
/// `__STDC_VERSION__` below C23) and drops every preprocessor line but `#define FFI_*`.
fn plain_c(text: &str) -> String {
    let mut active: Vec<bool> = Vec::new();
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        let on = active.iter().all(|a| *a);
        if let Some(rest) = t.strip_prefix('#') {
            let rest = rest.trim_start();
            if rest.starts_with("ifndef") {
                active.push(true);
            } else if rest.starts_with("ifdef") || rest.starts_with("if ") {
                assert!(
                    rest.contains("__cplusplus") || rest.contains("__STDC_VERSION__"),
                    "unexpected conditional in the header: {line}"
                );
                active.push(false);
            } else if rest.starts_with("else") {
                let last = active.pop().expect("#else without #if");
                active.push(!last);
            } else if rest.starts_with("endif") {
                active.pop().expect("#endif without #if");
            } else if on && rest.starts_with("define FFI_") {
                out.push_str(line);
                out.push('\n');
            }
            continue;
        }
        if on && !(line.trim().is_empty() && out.ends_with("\n\n")) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The functions a process's first client and calls run (tools/hot-symbols.txt, made by
/// `make hot-symbols`), laid out first and together by the linker: a fresh process, or a
/// worker forked after `cc_warm_up`, faults in a few adjacent pages of code instead of
/// pages spread over the library (BENCHMARKS.md). Only lld reads the file, and it is
/// rustc's default linker on x86_64 Linux from Rust 1.90; with another linker chosen (a
/// `linker` or `-fuse-ld` setting), an older rustc, another target, or
/// `CALLCONNECT_LAYOUT=0`, the library is linked in the default order. A name the library
/// no longer has is skipped without a warning (the install suite checks the match).
fn hot_code_first() {
    println!("cargo:rerun-if-changed=tools/hot-symbols.txt");
    println!("cargo:rerun-if-env-changed=CALLCONNECT_LAYOUT");
    for var in [
        "RUSTC_LINKER",
        "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    if env::var("CALLCONNECT_LAYOUT").as_deref() == Ok("0")
        || env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu")
        || env::var_os("RUSTC_LINKER").is_some()
        || env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_some()
    {
        return;
    }
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags.contains("linker") || flags.contains("fuse-ld") {
        return;
    }
    // lld is the default linker from rustc 1.90 on this target.
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    let minor: u32 = version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if !version.starts_with("rustc 1.") || minor < 90 {
        return;
    }
    let file = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("tools/hot-symbols.txt");
    // `-Wl,` splits at commas: a path with one would reach the linker in pieces.
    if file.exists() && !file.to_string_lossy().contains(',') {
        println!(
            "cargo:rustc-cdylib-link-arg=-Wl,--symbol-ordering-file={}",
            file.display()
        );
        println!("cargo:rustc-cdylib-link-arg=-Wl,--no-warn-symbol-ordering");
    }
}
