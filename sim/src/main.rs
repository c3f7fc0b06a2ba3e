//! `callconnect-sim [--port N] [--step-ms N] [--port-file PATH]`: runs the carrier
//! simulator on 127.0.0.1 until it is killed or its standard input closes (with
//! `--stdin-eof`).

use std::io::Read;

fn main() {
    let mut config = callconnect_sim::Config::default();
    let mut port_file = None;
    let mut stdin_eof = false;
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
            "-h" | "--help" => {
                println!("usage: callconnect-sim [--port N] [--step-ms N] [--port-file PATH] [--stdin-eof]");
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
