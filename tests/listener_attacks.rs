//! The built-in event listener under attack, as anyone who can reach the host could try:
//! half-open connections by the hundred, descriptors run out, request lines of 48 MiB
//! without a line end, a client pipelining requests without reading the answers, idle
//! connections. For each: a genuine event is answered correctly during the attack and
//! after it (the call was hung up by the host, so the right answer is PokeTALK's 412; a
//! forged one is 403), the host process starts no thread and grows less than 20 MiB.
//!
//! The host is a child process (this test binary again, running `host_process`), so that
//! its memory, threads and descriptors are its own and its descriptor limit can be low.
//! The simulator runs here; its own events go to a port nobody listens on, so that the
//! only events the host gets are the ones sent below.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use callconnect::{CallOptions, Client};
use callconnect_sim::{Config, Simulator};

const SECRET: &str = "event-secret-for-tests-0123";
const MIB: u64 = 1024 * 1024;
/// The most the host may grow under an attack.
const MAX_GROWTH_KIB: u64 = 20 * 1024;
/// How long a genuine client waits for its answer: generous (the listener answers in
/// milliseconds), yet far below the head deadline the host runs with, so that an answer
/// that came only because the attack's connections timed out fails the test.
const GENUINE_WAIT: Duration = Duration::from_secs(10);
const HEAD_TIMEOUT_MS: u32 = 60_000;

/// The host: run by the tests below as a child process, never on its own.
#[test]
#[ignore = "the host process of the attack tests, started by them"]
fn host_process() {
    let dsn = std::env::var("CC_ATTACK_HOST_DSN").expect("started by an attack test");
    let client = Client::new(&dsn).unwrap();
    // B ending in 999 talks until hung up. The hang-up is only marked (PokeTALK ends a
    // call by the answer 412 to its next event), so every genuine event is answered 412.
    let call = client
        .start_call("0171 1234567", "030 1234999", &CallOptions::default())
        .unwrap();
    assert!(call.hangup().unwrap().hangup_pending);
    println!(
        "READY {} {}",
        client.event_listen_addr().unwrap(),
        call.id()
    );
    std::io::stdout().flush().unwrap();
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
    assert!(call.status().unwrap().hangup_pending);
    client.close();
}

struct Host {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
    /// The request target of a genuine event (status 1: A is ringing).
    genuine: String,
    forged: String,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone, Copy)]
struct Usage {
    rss_kib: u64,
    threads: u64,
}

impl Host {
    /// Starts a host with `extra` DSN options, under a descriptor limit if given.
    fn start(sim: &Simulator, extra: &str, nofile: Option<u32>) -> Host {
        let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = nobody.local_addr().unwrap().port();
        drop(nobody);
        let dsn = format!(
            "poketalk://test-attack@127.0.0.1:{}?tls=0&default_country=49&timeout_ms=5000\
             &event_secret={SECRET}&event_listen=127.0.0.1:0\
             &event_url=http%3A%2F%2F127.0.0.1%3A{dead}%2Fev{extra}",
            sim.port()
        );
        let exe = std::env::current_exe().unwrap();
        let mut cmd = match nofile {
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}")).arg("--").arg(exe);
                c
            }
            None => Command::new(exe),
        };
        let mut child = cmd
            .args(["host_process", "--exact", "--ignored", "--nocapture"])
            .args(["--test-threads", "1"])
            .env("CC_ATTACK_HOST_DSN", dsn)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the host process starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let (addr, id) = loop {
            line.clear();
            if stdout.read_line(&mut line).unwrap() == 0 {
                let _ = child.kill();
                panic!("the host process ended before it was ready");
            }
            // After libtest's `test host_process ... ` on the same line.
            if let Some(at) = line.find("READY ") {
                let rest = line[at + "READY ".len()..].trim();
                let (a, id) = rest.split_once(' ').unwrap();
                break (a.parse().unwrap(), id.to_string());
            }
        };
        let url = sim_get(sim, &format!("/_sim/poketalk/call?custom={id}"))["eventurl"]
            .as_str()
            .unwrap()
            .to_string();
        let query = url
            .split_once('?')
            .unwrap()
            .1
            .replace("$webcallid", &id)
            .replace("$status", "1")
            .replace("$duration", "0")
            .replace("$debit", "0");
        let forged = format!("/ev?cc_id={id}&cc_tok=AAAAAAAAAAAAAAAAAAAAAAAAAAA&status=8");
        let host = Host {
            child,
            _stdout: stdout,
            addr,
            genuine: format!("/ev?{query}"),
            forged,
        };
        // Warm up (the workers' first requests) before the baseline is taken.
        for _ in 0..8 {
            host.expect_genuine_answered();
        }
        host
    }

    fn usage(&self) -> Usage {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in /proc/PID/status"))
        };
        Usage {
            rss_kib: field("VmRSS:"),
            threads: field("Threads:"),
        }
    }

    fn descriptors(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .unwrap()
            .count()
    }

    /// A genuine event and a forged one, each answered as it must be.
    fn expect_genuine_answered(&self) {
        assert_eq!(
            request(self.addr, &self.genuine),
            Some(412),
            "a genuine event of a hung-up call"
        );
        assert_eq!(
            request(self.addr, &self.forged),
            Some(403),
            "a forged event"
        );
    }

    /// The host's usage now, checked against `baseline`.
    fn expect_bounded(&self, baseline: Usage, when: &str) -> Usage {
        let now = self.usage();
        eprintln!(
            "{when}: {} threads ({} before), RSS {} KiB ({} KiB before), {} descriptors",
            now.threads,
            baseline.threads,
            now.rss_kib,
            baseline.rss_kib,
            self.descriptors()
        );
        assert!(
            now.threads <= baseline.threads,
            "{when}: {} threads, {} before",
            now.threads,
            baseline.threads
        );
        assert!(
            now.rss_kib < baseline.rss_kib + MAX_GROWTH_KIB,
            "{when}: {} KiB, {} KiB before",
            now.rss_kib,
            baseline.rss_kib
        );
        now
    }

    /// Lets the host end on its own: it checks its call and closes its client.
    fn finish(mut self) {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the host process ended with {status}");
    }
}

fn sim() -> Simulator {
    Simulator::start(Config {
        step_ms: 50,
        ..Default::default()
    })
    .unwrap()
}

fn sim_get(sim: &Simulator, path: &str) -> serde_json::Value {
    let body = ureq::get(format!("http://127.0.0.1:{}{path}", sim.port()))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&body).unwrap()
}

/// One request as a carrier sends it; the status of the answer, if one came.
fn request(addr: SocketAddr, target: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, GENUINE_WAIT).ok()?;
    s.set_read_timeout(Some(GENUINE_WAIT)).unwrap();
    s.set_write_timeout(Some(GENUINE_WAIT)).unwrap();
    s.write_all(format!("GET {target} HTTP/1.1\r\nHost: carrier\r\n\r\n").as_bytes())
        .ok()?;
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    answer.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// A connection that starts a request and sends nothing more.
fn half_open(addr: SocketAddr) -> Option<TcpStream> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.write_all(b"GET /?cc_id=").ok()?;
    Some(s)
}

/// Runs `attack` on a thread until the returned flag is set; joined by `stop`.
struct Attacker<T> {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<T>,
}

impl<T: Send + 'static> Attacker<T> {
    fn start(attack: impl FnOnce(&AtomicBool) -> T + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        Attacker {
            stop,
            thread: std::thread::spawn(move || attack(&flag)),
        }
    }

    fn stop(self) -> T {
        self.stop.store(true, Ordering::Release);
        self.thread.join().unwrap()
    }

    /// Waits for the attack to end by itself.
    fn finish(self) -> T {
        self.thread.join().unwrap()
    }
}

#[test]
fn half_open_connections_neither_starve_the_listener_nor_pile_up() {
    let sim = sim();
    let host = Host::start(
        &sim,
        &format!("&event_head_timeout_ms={HEAD_TIMEOUT_MS}"),
        None,
    );
    let baseline = host.usage();
    let addr = host.addr;
    // 300 half-open connections, then new ones one after another for as long as the
    // genuine events below are sent (the oldest let go, so 300 stay open).
    let held: Vec<TcpStream> = (0..300).filter_map(|_| half_open(addr)).collect();
    assert!(held.len() >= 250, "{} connections", held.len());
    let attacker = Attacker::start(move |stop| {
        let mut held: VecDeque<TcpStream> = held.into();
        let mut opened = 0;
        while !stop.load(Ordering::Acquire) && opened < 3000 {
            if let Some(s) = half_open(addr) {
                held.push_back(s);
                held.pop_front();
                opened += 1;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        held
    });
    for _ in 0..5 {
        host.expect_genuine_answered();
    }
    host.expect_bounded(baseline, "during the attack");
    // At most the cap (64) of them is held by the host, with its own few descriptors.
    assert!(
        host.descriptors() < 64 + 32,
        "{} descriptors",
        host.descriptors()
    );
    let held = attacker.stop();
    host.expect_genuine_answered();
    drop(held);
    for _ in 0..5 {
        host.expect_genuine_answered();
    }
    host.expect_bounded(baseline, "after the attack");
    host.finish();
}

#[test]
fn running_out_of_descriptors_does_not_kill_the_listener() {
    let sim = sim();
    const LIMIT: u32 = 64;
    let host = Host::start(
        &sim,
        &format!("&event_head_timeout_ms={HEAD_TIMEOUT_MS}"),
        Some(LIMIT),
    );
    let baseline = host.usage();
    // Far more half-open connections than the host has descriptors: its accept() fails
    // with EMFILE from the first few dozen on.
    let held: Vec<TcpStream> = (0..400).filter_map(|_| half_open(host.addr)).collect();
    assert!(held.len() >= 300, "{} connections", held.len());
    host.expect_genuine_answered();
    // The events above came after every one of those connections, so the host has met
    // them all: its descriptors are used up, every one of them.
    let fds = host.descriptors();
    assert!(fds + 4 >= LIMIT as usize, "{fds} descriptors of {LIMIT}");
    for _ in 0..5 {
        host.expect_genuine_answered();
    }
    host.expect_bounded(baseline, "out of descriptors");
    // The attacker leaves: the listener is still there, and answers a burst.
    drop(held);
    for _ in 0..20 {
        host.expect_genuine_answered();
    }
    host.expect_bounded(baseline, "after the attack");
    host.finish();
}

#[test]
fn request_lines_of_48_mib_are_cut_at_8_kib() {
    let sim = sim();
    let host = Host::start(&sim, "", None);
    let baseline = host.usage();
    let addr = host.addr;
    // Each attacker's rounds: the bytes the host took, and what it answered.
    type Rounds = Vec<(u64, Vec<u8>)>;
    // Attackers that have begun sending: the genuine events below wait for all four, so
    // that they come during the attack however slowly the threads start.
    let sending = Arc::new(AtomicUsize::new(0));
    let attackers: Vec<Attacker<Rounds>> = (0..4)
        .map(|_| {
            let sending = sending.clone();
            Attacker::start(move |stop| {
                let chunk = vec![b'a'; 64 * 1024];
                let mut rounds = Vec::new();
                // At least one whole round, then until told to stop (or 20 rounds).
                while rounds.is_empty() || (!stop.load(Ordering::Acquire) && rounds.len() < 20) {
                    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                    else {
                        continue;
                    };
                    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                    if rounds.is_empty() {
                        sending.fetch_add(1, Ordering::AcqRel);
                    }
                    let mut sent = 0u64;
                    if s.write_all(b"GET /").is_ok() {
                        while sent < 48 * MIB {
                            match s.write(&chunk) {
                                Ok(n) => sent += n as u64,
                                Err(_) => break,
                            }
                        }
                    }
                    let mut answer = Vec::new();
                    let _ = s.read_to_end(&mut answer);
                    rounds.push((sent, answer));
                }
                rounds
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while sending.load(Ordering::Acquire) < 4 {
        assert!(Instant::now() < deadline, "the attackers never began");
        std::thread::sleep(Duration::from_millis(5));
    }
    for _ in 0..5 {
        host.expect_genuine_answered();
    }
    host.expect_bounded(baseline, "during the attack");
    for a in attackers {
        let rounds = a.stop();
        assert!(!rounds.is_empty());
        for (sent, answer) in rounds {
            // The host closed the connection long before the line's end: what was sent
            // is what the kernels' buffers took before the reset.
            assert!(sent < 48 * MIB, "{sent} bytes sent and taken");
            // The answer, when it was not lost to the reset, is 431.
            let answer = String::from_utf8_lossy(&answer);
            assert!(
                answer.is_empty() || answer.starts_with("HTTP/1.1 431 "),
                "{answer}"
            );
        }
    }
    host.expect_genuine_answered();
    host.expect_bounded(baseline, "after the attack");
    host.finish();
}

#[test]
fn a_pipelining_client_that_never_reads_blocks_no_event() {
    let sim = sim();
    let host = Host::start(&sim, "", None);
    let baseline = host.usage();
    let addr = host.addr;
    const REQUESTS: usize = 400_000;
    let attacker = Attacker::start(move |_| {
        let one = b"GET /?cc_id=x HTTP/1.1\r\nHost: h\r\n\r\n";
        let batch: Vec<u8> = one.repeat(2000);
        let (mut sent, mut connections) = (0, 0);
        while sent < REQUESTS {
            let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
                continue;
            };
            connections += 1;
            s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
            // Never reads: the host's answers stay unread until it lets go.
            while sent < REQUESTS && s.write_all(&batch).is_ok() {
                sent += 2000;
            }
        }
        (sent, connections)
    });
    for _ in 0..5 {
        host.expect_genuine_answered();
    }
    host.expect_bounded(baseline, "during the attack");
    // The attacker pushes all its requests (more than the kernels' buffers of one
    // connection hold). The host answered one request per connection and closed it:
    // the attacker had to connect again and again.
    let (sent, connections) = attacker.finish();
    assert_eq!(sent, REQUESTS);
    assert!(
        connections > 1,
        "{sent} requests on {connections} connection(s)"
    );
    host.expect_genuine_answered();
    host.expect_bounded(baseline, "after the attack");
    host.finish();
}

#[test]
fn idle_connections_are_let_go_at_the_head_deadline() {
    let sim = sim();
    let host = Host::start(&sim, "&event_head_timeout_ms=500", None);
    let baseline = host.usage();
    let held: Vec<TcpStream> = (0..40).filter_map(|_| half_open(host.addr)).collect();
    assert_eq!(held.len(), 40);
    // Each is answered 408 and closed once its head is late.
    for mut s in held {
        s.set_read_timeout(Some(GENUINE_WAIT)).unwrap();
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).unwrap();
        assert!(
            answer.starts_with(b"HTTP/1.1 408 "),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
    host.expect_genuine_answered();
    host.expect_bounded(baseline, "after the attack");
    host.finish();
}
