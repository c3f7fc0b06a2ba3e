//! The backends against each other and against faults: the same updates give the same
//! records in a directory and in a real Redis (`tests/common/redis.rs` starts one; the
//! Lua copy of the merge rules), accounts stay apart, writers contend, Redis stops and
//! comes back.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use super::redis_server::RedisServer;
use crate::dsn::Dsn;
use crate::error::ErrorKind;
use crate::model::{CallState, FailReason, Leg, Observation};
use crate::money::Money;
use crate::store::{self, CallStore, Record, Update};

const T0: i64 = 1_700_000_000_000;

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cc-store-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn open(dsn: &str) -> Box<dyn CallStore> {
    let mut d = Dsn::parse(dsn).unwrap();
    store::from_dsn(&mut d).unwrap().unwrap()
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A store in a fresh directory and one in `redis`, for the same account.
fn both_stores(tag: &str, redis: &RedisServer) -> ([Box<dyn CallStore>; 2], PathBuf) {
    let dir = tempdir(tag);
    let stores = [
        open(&format!(
            "poketalk://k@h?store={}",
            enc(&format!("dir:{}", dir.display()))
        )),
        open(&format!("poketalk://k@h?store={}", enc(&redis.url()))),
    ];
    (stores, dir)
}

fn obs(state: Option<CallState>, d: Option<u32>, cost: Option<&str>, raw: &str) -> Observation {
    Observation {
        state,
        duration_s: d,
        cost: cost.map(|c| Money::parse(c, Some("EUR")).unwrap()),
        raw_code: (!raw.is_empty()).then(|| raw.to_string()),
        ..Default::default()
    }
}

/// Sequences of updates that exercise every rule, with the flags each merge must report.
/// An update and the flags its merge must report: changed, alive after final, implausible.
type Step = (Update, (bool, bool, bool));

fn sequences() -> Vec<Vec<Step>> {
    let at = |s: i64, o: Observation| Update::observation(o, T0 + s * 1000);
    let start = Update {
        started_ms: Some(T0),
        create: true,
        ..Update::new(T0)
    };
    let hangup = |s: i64| Update {
        hangup: true,
        create: true,
        ..Update::new(T0 + s * 1000)
    };
    use CallState::*;
    vec![
        // A whole call, then a forged final, a replayed final and a live event after it.
        vec![
            (start.clone(), (false, false, false)),
            (
                at(1, obs(Some(RingingA), None, None, "1")),
                (true, false, false),
            ),
            (
                at(9, obs(Some(Connected), Some(2), Some("0.004"), "7")),
                (true, false, false),
            ),
            (
                at(10, obs(Some(RingingA), Some(5), Some("9"), "1")),
                (false, false, false),
            ),
            (
                at(70, obs(Some(Connected), Some(61), Some("0.122"), "7")),
                (false, false, false),
            ),
            (
                at(71, obs(None, None, Some("0.05"), "")),
                (false, false, false),
            ),
            (
                at(72, obs(Some(Ended), Some(1), Some("0.001"), "8")),
                (true, false, false),
            ),
            (
                at(80, obs(Some(Ended), Some(9999), Some("0.000"), "8")),
                (false, false, true),
            ),
            (
                at(81, obs(Some(Connected), Some(75), Some("0.150"), "7")),
                (false, true, false),
            ),
            (hangup(82), (false, false, false)),
            (
                at(83, Observation::failed(FailReason::Busy, Leg::B)),
                (false, false, false),
            ),
        ],
        // Hang-up asked before the end: any final reads ENDED/CANCELLED.
        vec![
            (start.clone(), (false, false, false)),
            (
                at(2, obs(Some(RingingB), None, None, "5")),
                (true, false, false),
            ),
            (hangup(3), (false, false, false)),
            (hangup(4), (false, false, false)),
            (
                at(5, Observation::failed(FailReason::Unknown, Leg::A).raw("4")),
                (true, false, false),
            ),
        ],
        // A failure with its leg; implausible duration before the end; carrier data.
        vec![
            (start.clone(), (false, false, false)),
            (at(1, obs(None, Some(200), None, "0")), (false, false, true)),
            (
                Update {
                    seq: Some(4),
                    data: vec![("guid".into(), "x1".into())],
                    ..Update::new(T0 + 2000)
                },
                (false, false, false),
            ),
            (
                Update {
                    seq: Some(2),
                    data: vec![("guid".into(), "x2".into())],
                    ..Update::new(T0 + 3000)
                },
                (false, false, false),
            ),
            (
                at(
                    4,
                    Observation::failed(FailReason::NoAnswer, Leg::B).raw("11"),
                ),
                (true, false, false),
            ),
        ],
    ]
}

fn run_sequences(s: &dyn CallStore) -> Vec<Record> {
    let mut out = Vec::new();
    for (n, seq) in sequences().into_iter().enumerate() {
        let id = format!("seq{n}");
        for (i, (u, (changed, alive, implausible))) in seq.iter().enumerate() {
            let m = s.merge(&id, u).unwrap().unwrap();
            assert_eq!(
                (
                    m.merge.changed,
                    m.merge.alive_after_final,
                    m.merge.implausible
                ),
                (*changed, *alive, *implausible),
                "{} sequence {n} step {i}",
                s.describe()
            );
            assert_eq!(s.load(&id).unwrap().unwrap(), m.record);
        }
        out.push(s.load(&id).unwrap().unwrap());
    }
    out
}

#[test]
fn both_backends_merge_alike() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let dir = tempdir("parity");
    let d = open(&format!(
        "poketalk://k@h?store={}",
        enc(&format!("dir:{}", dir.display()))
    ));
    let r = open(&format!("poketalk://k@h?store={}", enc(&redis.url())));
    let from_dir = run_sequences(d.as_ref());
    let from_redis = run_sequences(r.as_ref());
    assert_eq!(from_dir, from_redis);
    // What the rules left, spelled out once.
    let whole = &from_dir[0];
    assert_eq!(
        (
            whole.state,
            whole.duration_s,
            whole.cost.as_deref(),
            whole.raw_code.as_deref()
        ),
        (CallState::Ended, 61, Some("0.122"), Some("8"))
    );
    assert!(whole.hangup_requested());
    let cancelled = &from_dir[1];
    assert_eq!(
        (cancelled.state, cancelled.reason, cancelled.failed_leg),
        (CallState::Ended, FailReason::Cancelled, Leg::None)
    );
    assert_eq!(cancelled.hangup_ms, T0 + 3000);
    let failed = &from_dir[2];
    assert_eq!(
        (
            failed.state,
            failed.reason,
            failed.failed_leg,
            failed.duration_s
        ),
        (CallState::Failed, FailReason::NoAnswer, Leg::B, 0)
    );
    assert_eq!((failed.seq, failed.data["guid"].as_str()), (4, "x1"));
    // An update of an unknown call creates nothing in either.
    for s in [&d, &r] {
        let u = Update::observation(obs(Some(CallState::Connected), None, None, "7"), T0);
        assert!(s.merge("nobody", &u).unwrap().is_none());
        assert!(s.load("nobody").unwrap().is_none());
        s.remove("seq0").unwrap();
        assert!(s.load("seq0").unwrap().is_none());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every state, every reason of a failure and every failed leg is read back as written,
/// from each backend (a record's fields are stored as numbers in Redis).
#[test]
fn every_state_reason_and_leg_reads_back_as_written() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (stores, dir) = both_stores("names", &redis);
    use CallState::*;
    use FailReason::*;
    let start = Update {
        started_ms: Some(T0),
        create: true,
        ..Update::new(T0)
    };
    let mut cases: Vec<(CallState, FailReason, Leg)> =
        [RingingA, AAnswered, RingingB, Connected, Ended]
            .into_iter()
            .map(|st| (st, FailReason::None, Leg::None))
            .collect();
    for reason in [
        Busy,
        NoAnswer,
        Rejected,
        InsufficientFunds,
        InvalidNumber,
        Cancelled,
        ProviderError,
        Unknown,
    ] {
        for leg in [Leg::A, Leg::B, Leg::None] {
            cases.push((Failed, reason, leg));
        }
    }
    for s in &stores {
        s.merge("fresh", &start).unwrap();
        let r = s.load("fresh").unwrap().unwrap();
        assert_eq!(
            (r.state, r.reason, r.failed_leg),
            (Initiating, FailReason::None, Leg::None)
        );
        for (n, &(state, reason, leg)) in cases.iter().enumerate() {
            let id = format!("case{n}");
            s.merge(&id, &start).unwrap();
            let o = Observation {
                state: Some(state),
                reason,
                failed_leg: leg,
                ..Default::default()
            };
            s.merge(&id, &Update::observation(o, T0 + 1000)).unwrap();
            let r = s.load(&id).unwrap().unwrap();
            assert_eq!(
                (r.state, r.reason, r.failed_leg),
                (state, reason, leg),
                "{}",
                s.describe()
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Carrier data is kept only under a plain name (`[a-z_]`, up to 32) and up to 256
/// bytes a value, in each backend: anything else is dropped, the rest of the write kept.
#[test]
fn carrier_data_with_a_bad_name_or_too_long_is_dropped() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (stores, dir) = both_stores("data", &redis);
    for s in &stores {
        let u = Update {
            create: true,
            data: vec![
                ("guid".into(), "g1".into()),
                ("Bad Name".into(), "x".into()),
                ("long".into(), "v".repeat(store::MAX_DATA + 1)),
                ("longest".into(), "w".repeat(store::MAX_DATA)),
            ],
            ..Update::new(T0)
        };
        let r = s.merge("data", &u).unwrap().unwrap().record;
        let names: Vec<&str> = r.data.keys().map(String::as_str).collect();
        assert_eq!(names, ["guid", "longest"], "{}", s.describe());
        assert_eq!(s.load("data").unwrap().unwrap().data, r.data);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn accounts_sharing_a_store_stay_apart() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let dir = tempdir("accounts");
    for spec in [format!("dir:{}", dir.display()), redis.url()] {
        let a = open(&format!("poketalk://key-a@h?store={}", enc(&spec)));
        let b = open(&format!("poketalk://key-b@h?store={}", enc(&spec)));
        let u = Update {
            create: true,
            obs: obs(Some(CallState::Connected), None, None, "7"),
            ..Update::new(T0)
        };
        a.merge("same-id", &u).unwrap();
        assert!(b.load("same-id").unwrap().is_none(), "{spec}");
        assert_eq!(
            a.load("same-id").unwrap().unwrap().state,
            CallState::Connected
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn concurrent_writers_lose_nothing() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let dir = tempdir("concurrent");
    for spec in [format!("dir:{}", dir.display()), redis.url()] {
        let dsn = format!("poketalk://k@h?store={}", enc(&spec));
        let start = Update {
            create: true,
            ..Update::new(T0)
        };
        open(&dsn).merge("c1", &start).unwrap();
        // Eight writers, each with its own store (its own descriptor and lock, as a
        // process would have): one asks for hang-up among a flood of figures.
        let threads: Vec<_> = (0..8u32)
            .map(|t| {
                let dsn = dsn.clone();
                std::thread::spawn(move || {
                    let s = open(&dsn);
                    for i in 0..50u32 {
                        let d = t * 50 + i;
                        let mut u = Update::observation(
                            obs(Some(CallState::Connected), Some(d), None, "7"),
                            T0 + 1000,
                        );
                        u.hangup = t == 3 && i == 25;
                        s.merge("c1", &u).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let r = open(&dsn).load("c1").unwrap().unwrap();
        assert_eq!(r.duration_s, 399, "{spec}");
        assert!(r.hangup_requested(), "{spec}");
    }
    // Threads sharing one handle (one client used from several threads) too.
    for spec in [format!("dir:{}", dir.display()), redis.url()] {
        let s: std::sync::Arc<dyn CallStore> =
            open(&format!("poketalk://k@h?store={}", enc(&spec))).into();
        let start = Update {
            create: true,
            ..Update::new(T0)
        };
        s.merge("c2", &start).unwrap();
        let threads: Vec<_> = (0..8u32)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for i in 0..50u32 {
                        let mut u = Update::observation(
                            obs(Some(CallState::Connected), Some(t * 50 + i), None, "7"),
                            T0 + 1000,
                        );
                        u.hangup = t == 5 && i == 10;
                        s.merge("c2", &u).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let r = s.load("c2").unwrap().unwrap();
        assert_eq!(r.duration_s, 399, "{spec}");
        assert!(r.hangup_requested(), "{spec}");
    }
    // Still one file per call.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn redis_stopped_and_restarted_mid_call() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let s = open(&format!(
        "poketalk://k@h?store={}&timeout_ms=2000",
        enc(&redis.url())
    ));
    let u = Update {
        create: true,
        started_ms: Some(T0),
        obs: obs(Some(CallState::Connected), Some(5), None, "7"),
        ..Update::new(T0 + 10_000)
    };
    s.merge("mid", &u).unwrap();
    // Down: a clear error that names the store, for reads and writes alike.
    redis.stop(true);
    for e in [
        s.load("mid").unwrap_err(),
        store::request_hangup(s.as_ref(), "mid", T0 + 11_000).unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::Network);
        assert!(e.message().contains(&redis.url()), "{}", e.message());
    }
    // Back with the same data: the call is where it was, and the store works again on
    // the same client (a fresh connection).
    redis.restart();
    assert_eq!(s.load("mid").unwrap().unwrap().state, CallState::Connected);
    store::request_hangup(s.as_ref(), "mid", T0 + 12_000).unwrap();
    assert!(s.load("mid").unwrap().unwrap().hangup_requested());
    // Back empty (no persistence): the record is gone; nothing is made up.
    redis.stop(false);
    redis.restart();
    assert!(s.load("mid").unwrap().is_none());
}

#[test]
fn directory_faults() {
    // umask 022 (the usual one): the directory is still 0700, records 0600.
    // SAFETY: umask has no preconditions; this test file's other tests do not depend on it.
    let old = unsafe { libc::umask(0o022) };
    let dir = tempdir("umask");
    let s = open(&format!(
        "poketalk://k@h?store={}",
        enc(&format!("dir:{}", dir.display()))
    ));
    store::request_hangup(s.as_ref(), "u1", T0).unwrap();
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    assert_eq!(mode(&files[0]), 0o600);
    // A forged id never names anything outside the directory.
    let parent = dir.parent().unwrap().to_path_buf();
    let outside = parent.join("x");
    let _ = std::fs::remove_file(&outside);
    for bad in ["../../x", "../x", &outside.display().to_string(), "/x"] {
        assert!(store::request_hangup(s.as_ref(), bad, T0).is_err());
        assert!(s.load(bad).is_err());
    }
    assert!(!outside.exists());
    assert!(!std::path::Path::new("/x").exists());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}
