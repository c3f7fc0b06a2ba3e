//! Files the library writes with a secret in them (VoipNow's `token_cache`): in a shared
//! directory (mode 1777) a file or link planted at the name the cache's temporary file
//! used to have, or at the cache's own name, never receives the token nor keeps it
//! readable by another user; the cache is a 0600 file of this user. A directory any user
//! may write to without the sticky bit is refused when the client is built.

#![cfg(unix)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;

use callconnect::{CallOptions, Client, ErrorKind};
use callconnect_sim::{Config, Simulator};

fn sim() -> Simulator {
    Simulator::start(Config {
        step_ms: 60_000,
        ..Default::default()
    })
    .unwrap()
}

fn shared_dir(name: &str, mode: u32) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cc-at-rest-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode)).unwrap();
    d
}

fn dsn(sim: &Simulator, app: &str, cache: &std::path::Path) -> String {
    format!(
        "voipnow://{app}:secret-{app}@127.0.0.1:{}?tls=0&default_country=49&timeout_ms=3000&extension=210&token_cache={}",
        sim.port(),
        cache.display()
    )
}

#[test]
fn planted_files_and_links_never_get_the_token() {
    let sim = sim();
    let dir = shared_dir("planted", 0o1777);
    let cache = dir.join("token.json");
    // What another user would plant: a readable file at the old temporary name, a link
    // at another old temporary name toward a file of theirs, and a link at the cache's
    // own name.
    let old_tmp = cache.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&old_tmp, "").unwrap();
    std::fs::set_permissions(&old_tmp, std::fs::Permissions::from_mode(0o644)).unwrap();
    let theirs = dir.join("theirs.txt");
    std::fs::write(&theirs, "").unwrap();
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o666)).unwrap();
    let cache_link_target = dir.join("theirs-too.txt");
    std::fs::write(&cache_link_target, "").unwrap();
    std::os::unix::fs::symlink(&cache_link_target, &cache).unwrap();

    let client = Client::new(&dsn(&sim, "test-at-rest", &cache)).unwrap();
    client
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    client.close();

    let meta = std::fs::symlink_metadata(&cache).unwrap();
    assert!(meta.file_type().is_file(), "the planted link was replaced");
    assert_eq!(meta.mode() & 0o777, 0o600);
    // SAFETY: geteuid has no preconditions.
    assert_eq!(meta.uid(), unsafe { libc::geteuid() });
    let text = std::fs::read_to_string(&cache).unwrap();
    assert!(text.contains("access_token"), "{text}");
    for planted in [&old_tmp, &theirs, &cache_link_target] {
        assert_eq!(
            std::fs::read_to_string(planted).unwrap(),
            "",
            "{} got data",
            planted.display()
        );
    }
    // Every file in the directory that holds the token is the 0600 cache itself.
    let token: serde_json::Value = serde_json::from_str(&text).unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();
    assert!(!token.is_empty());
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = entry.path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        if m.file_type().is_file()
            && std::fs::read_to_string(&p)
                .unwrap()
                .contains("access_token")
        {
            assert_eq!(p, cache);
            assert_eq!(m.mode() & 0o077, 0, "{}", p.display());
        }
        if m.file_type().is_file() && p != cache {
            assert!(!std::fs::read_to_string(&p).unwrap().contains(&token));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_cache_file_someone_else_could_write_is_not_trusted() {
    let sim = sim();
    let dir = shared_dir("foreign", 0o1777);
    let cache = dir.join("token.json");
    let client = Client::new(&dsn(&sim, "test-at-rest-2", &cache)).unwrap();
    client
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    client.close();
    // Made readable and writable by others (as a planted or tampered file would be): the
    // next client does not take its token, it fetches its own and writes a 0600 file.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o666)).unwrap();
    let fetches = |sim: &Simulator| {
        sim.stats()["voipnow"]["clients"]["test-at-rest-2"]["token_fetches"]
            .as_u64()
            .unwrap_or(0)
    };
    let before = fetches(&sim);
    let next = Client::new(&dsn(&sim, "test-at-rest-2", &cache)).unwrap();
    next.start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    next.close();
    assert_eq!(fetches(&sim), before + 1);
    let meta = std::fs::symlink_metadata(&cache).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_shared_directory_without_sticky_bit_is_refused() {
    let sim = sim();
    let dir = shared_dir("open", 0o777);
    let e = Client::new(&dsn(&sim, "test-at-rest-3", &dir.join("token.json"))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.message().contains("sticky"), "{}", e.message());
    assert!(e.message().contains("token_cache"), "{}", e.message());
    let _ = std::fs::remove_dir_all(&dir);
}
