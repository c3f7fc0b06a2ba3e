//! `callconnect-sim [--port N] [--step-ms N] [--port-file PATH] [--tls-dir DIR]`: runs
//! the carrier simulator on 127.0.0.1 until it is killed or its standard input closes
//! (with `--stdin-eof`).
//!
//! `--tls-dir DIR` also serves it over HTTPS with a test CA made now: DIR/ca.pem (the
//! CA), DIR/tls_port (a certificate from that CA for 127.0.0.1) and
//! DIR/selfsigned_port (a self-signed certificate), written before the port file.

use std::io::Read;

fn main() {
    let mut config = callconnect_sim::Config::default();
    let mut port_file = None;
    let mut stdin_eof = false;
    let mut tls_dir: Option<std::path::PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => {
                let p: u16 = args.next().and_then(|v| v.parse().ok()).expect("--port N");
                config.bind = format!("127.0.0.1:{p}").parse().unwrap();
            }
            "--step-ms" => {
                config.step_ms = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--step-ms N")
            }
            "--port-file" => port_file = Some(args.next().expect("--port-file PATH")),
            "--stdin-eof" => stdin_eof = true,
            "--tls-dir" => tls_dir = Some(args.next().expect("--tls-dir DIR").into()),
            "-h" | "--help" => {
                println!("usage: callconnect-sim [--port N] [--step-ms N] [--port-file PATH] [--tls-dir DIR] [--stdin-eof]");
                return;
            }
            other => {
                eprintln!("callconnect-sim: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let sim = callconnect_sim::Simulator::start(config.clone()).expect("cannot listen");
    println!(
        "callconnect-sim listening on {} (step {} ms)",
        sim.addr(),
        config.step_ms
    );
    let mut fronts = Vec::new();
    if let Some(dir) = tls_dir {
        use callconnect_sim::tls::{Leaf, TestPki};
        let pki = TestPki::new();
        pki.write_ca(&dir.join("ca.pem"))
            .expect("cannot write the CA file");
        for (leaf, name) in [
            (Leaf::Good, "tls_port"),
            (Leaf::SelfSigned, "selfsigned_port"),
        ] {
            let front = sim
                .tls_front(pki.server_config(leaf))
                .expect("cannot listen for TLS");
            std::fs::write(dir.join(name), front.port().to_string())
                .expect("cannot write a TLS port file");
            fronts.push(front);
        }
    }
    if let Some(f) = port_file {
        let tmp = format!("{f}.tmp");
        std::fs::write(&tmp, sim.port().to_string()).expect("cannot write the port file");
        std::fs::rename(&tmp, &f).expect("cannot write the port file");
    }
    if stdin_eof {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    } else {
        loop {
            std::thread::park();
        }
    }
}
