//! `callconnect`: the library from a shell. Places and follows calls, hangs them up by
//! reference, sends SMS, tops up, reads the account services, runs the simulator, and
//! runs a field check of a carrier account. Human output by default, `--json` for
//! scripts; the exit code is the library's `cc_result` (docs/cli.md).
//!
//! Built on the library's Rust API alone. The DSN comes from `--dsn-file` or
//! `$CALLCONNECT_DSN`, never from the command line, and is only ever shown redacted.

mod check;
mod codes;
mod dsn;
mod out;
mod sim;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use callconnect::{
    Call, CallOptions, CallState, CallStatus, Client, ErrorKind, NewCard, RecordSource,
};
use clap::{Parser, Subcommand};
use serde_json::{json, Value};

use codes::{Failure, EXIT_CALL_FAILED, EXIT_INTERRUPTED, EXIT_USAGE};
use out::Out;

/// Exit code when a hang-up was asked (Ctrl-C, `hangup --wait`) but the carrier did not
/// confirm the end in time (or a second Ctrl-C left without waiting).
pub const EXIT_HANGUP_UNCONFIRMED: i32 = 21;

#[derive(Parser, Debug)]
#[command(
    name = "callconnect",
    version,
    about = "Two-leg callback calls, SMS, top-up and account services over several carriers",
    after_help = "The DSN is read from --dsn-file PATH or the environment variable CALLCONNECT_DSN \
                  (never from the command line). Exit codes: 0 ok, 1-14 the library's cc_result, \
                  20 the call FAILED, 21 hang-up not confirmed, 64 usage, 130 Ctrl-C (call hung up). \
                  See docs/cli.md."
)]
struct Cli {
    /// Read the DSN from this file (first line that is not empty or a # comment).
    #[arg(long, global = true, value_name = "PATH")]
    dsn_file: Option<PathBuf>,
    /// Machine-readable output: one JSON object (a line each for `call --follow`).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Place a two-leg callback (ring A, then bridge to B) and print its reference.
    Call {
        /// The number rung first (several separated by `|` where the carrier has ring groups).
        a: String,
        /// The number A is bridged to.
        b: String,
        /// Print a line at every change of state until the call ends; Ctrl-C hangs up.
        #[arg(long)]
        follow: bool,
        /// How often to ask for the status while following, in milliseconds.
        #[arg(long, default_value_t = 1000, value_name = "MS")]
        interval_ms: u64,
        /// After Ctrl-C, how long to wait for the carrier to confirm the end, in seconds.
        #[arg(long, default_value_t = 120, value_name = "S")]
        hangup_wait: u64,
        #[command(flatten)]
        options: CallArgs,
    },
    /// Show a call's status from its reference (asks the carrier where it can tell).
    Status {
        /// The reference printed by `call`.
        reference: String,
    },
    /// Hang a call up by its reference.
    Hangup {
        reference: String,
        /// Wait until the carrier confirms the end.
        #[arg(long)]
        wait: bool,
        /// With --wait: the longest to wait, in seconds.
        #[arg(long, default_value_t = 120, value_name = "S")]
        wait_seconds: u64,
        #[arg(long, default_value_t = 1000, value_name = "MS")]
        interval_ms: u64,
    },
    /// Send an SMS to one or more recipients (`n1|n2|...`).
    Sms { recipients: String, text: String },
    /// Top the account up with a PIN read from --pin-file or $CALLCONNECT_PIN.
    Topup {
        #[arg(long, value_name = "PATH")]
        pin_file: Option<PathBuf>,
    },
    /// The account's balance, asked afresh from the carrier.
    Balance,
    /// The customer, account numbers and balance.
    Account,
    /// The carrier's price of each number.
    Rates {
        #[arg(required = true)]
        numbers: Vec<String>,
    },
    /// Call records of the days FROM to TO (YYYY-MM-DD, both included).
    Records {
        from: String,
        to: Option<String>,
        /// At most this many (the latest).
        #[arg(long)]
        count: Option<u32>,
        /// The callshop records (42call `cdr-callshop`) instead of `cdrs`.
        #[arg(long)]
        callshop: bool,
    },
    /// What the carrier knows of a number (its destination and prefix).
    NumberCheck { number: String },
    /// The account's dial-in and callback numbers.
    Dialin,
    /// Store the callthrough target: when A calls the dial-in number, it is connected to B.
    Callthrough { a: String, b: String },
    /// The account's VoIP lines.
    Lines {
        /// Include the lines' passwords (secrets: only to provision a phone).
        #[arg(long)]
        passwords: bool,
    },
    /// Calling cards.
    Card {
        #[command(subcommand)]
        op: CardOp,
    },
    /// The carrier, its capabilities and the DSN (redacted). Sends nothing.
    Info,
    /// Run the carrier simulator on 127.0.0.1 and print a DSN per carrier to paste.
    Sim {
        /// 0 picks a free port.
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Milliseconds per call stage (A ringing, A answered, ...).
        #[arg(long, default_value_t = 700, value_name = "MS")]
        step_ms: u64,
    },
    /// Field check of a real account: harmless requests only (one real call only with
    /// --call), a redacted transcript, and what it confirmed of the open questions.
    Check(check::Args),
}

#[derive(clap::Args, Debug, Default)]
struct CallArgs {
    /// Caller id shown to A (`"Name <+4930123456>"` or a number).
    #[arg(long)]
    caller_id: Option<String>,
    /// Caller id shown to B.
    #[arg(long)]
    caller_id_b: Option<String>,
    /// Your own id for the call, kept in its reference.
    #[arg(long)]
    correlation: Option<String>,
    /// The longest the bridged call may last, in seconds.
    #[arg(long, value_name = "S")]
    max_duration: Option<u32>,
    /// How long to ring before giving up, in seconds.
    #[arg(long, value_name = "S")]
    wait_for_pickup: Option<u32>,
    /// The most the call may cost (a decimal such as 1.50).
    #[arg(long, value_name = "AMOUNT")]
    max_cost: Option<String>,
    /// 1: ring A first, then B; 2: ring both at once.
    #[arg(long)]
    connect_type: Option<u32>,
}

impl CallArgs {
    fn options(&self) -> CallOptions {
        CallOptions {
            caller_id: self.caller_id.clone(),
            caller_id_b: self.caller_id_b.clone(),
            correlation: self.correlation.clone(),
            max_duration_s: self.max_duration,
            wait_for_pickup_s: self.wait_for_pickup,
            max_cost: self.max_cost.clone(),
            connect_type: self.connect_type,
            ..Default::default()
        }
    }
}

#[derive(Subcommand, Debug)]
enum CardOp {
    /// Show the card of NUMBER.
    Show {
        number: String,
        /// Include the card's PIN (a secret).
        #[arg(long)]
        show_pin: bool,
    },
    /// Create a card with AMOUNT of credit (costs money; never repeated).
    Create {
        number: String,
        #[arg(long)]
        amount: String,
        #[arg(long)]
        customer: Option<String>,
        /// Send the customer an SMS about the card (costs money).
        #[arg(long)]
        sms: bool,
        #[arg(long)]
        sms_text: Option<String>,
        #[arg(long)]
        show_pin: bool,
    },
    Block {
        number: String,
    },
    Unblock {
        number: String,
    },
    Disable {
        number: String,
    },
    /// Move the card of NUMBER to NEW_NUMBER.
    ChangeNumber {
        number: String,
        new_number: String,
    },
    /// Activate the card of NUMBER with a PIN read from --pin-file or $CALLCONNECT_PIN.
    Activate {
        number: String,
        #[arg(long, value_name = "PATH")]
        pin_file: Option<PathBuf>,
    },
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let out = Out::new(cli.json);
    let code = match run(&cli, &out) {
        Ok(code) => code,
        Err(f) => {
            out.failure(&f);
            f.code()
        }
    };
    std::process::exit(code);
}

fn client(cli: &Cli) -> Result<Client, Failure> {
    let dsn = dsn::load(cli.dsn_file.as_deref())?;
    Ok(Client::new(&dsn)?)
}

fn run(cli: &Cli, out: &Out) -> Result<i32, Failure> {
    match &cli.command {
        Command::Sim { port, step_ms } => sim::run(*port, *step_ms, out),
        Command::Check(args) => {
            let dsn = dsn::load(cli.dsn_file.as_deref())?;
            check::run(&dsn, args, out)
        }
        Command::Call {
            a,
            b,
            follow,
            interval_ms,
            hangup_wait,
            options,
        } => {
            let client = client(cli)?;
            // Ctrl-C is taken before the call is placed, so that it can never leave a
            // call up behind a process that died.
            let interrupts = if *follow {
                Some(interrupt_channel()?)
            } else {
                None
            };
            let call = client.start_call(a, b, &options.options())?;
            out.started(client.carrier(), call.id(), &call.reference());
            match interrupts {
                None => Ok(0),
                Some(rx) => {
                    let code = follow_call(
                        &call,
                        out,
                        &rx,
                        Duration::from_millis(*interval_ms),
                        Duration::from_secs(*hangup_wait),
                    )?;
                    // The call is over: log out where the carrier has sessions. (Without
                    // --follow the session stays, for `status` and `hangup` by reference.)
                    if code != EXIT_HANGUP_UNCONFIRMED {
                        client.close();
                    }
                    Ok(code)
                }
            }
        }
        Command::Status { reference } => {
            let client = client(cli)?;
            let call = client.attach(reference)?;
            let status = call.poll()?;
            out.status(&status);
            Ok(0)
        }
        Command::Hangup {
            reference,
            wait,
            wait_seconds,
            interval_ms,
        } => {
            let client = client(cli)?;
            let call = client.attach(reference)?;
            // Where the call is first (a read): a call that already ended is left alone.
            if let Err(e) = call.poll() {
                out.warn(&format!(
                    "could not ask for the status first ({})",
                    Failure::from(e)
                ));
            }
            let mut status = call.hangup()?;
            if *wait {
                let until = Instant::now() + Duration::from_secs(*wait_seconds);
                while !status.state.is_final() && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(*interval_ms));
                    status = call.poll()?;
                }
            }
            out.status(&status);
            Ok(if status.state.is_final() || !*wait {
                0
            } else {
                EXIT_HANGUP_UNCONFIRMED
            })
        }
        Command::Sms { recipients, text } => {
            let id = client(cli)?.send_sms(recipients, text)?;
            out.value(&json!({ "id": id }), || format!("SMS sent, id {id}"));
            Ok(0)
        }
        Command::Topup { pin_file } => {
            let pin = read_pin(pin_file.as_deref())?;
            let balance = client(cli)?.topup(&pin)?;
            out.value(
                &json!({ "balance": balance.as_ref().map(out::money) }),
                || match &balance {
                    Some(b) => format!("topped up; balance {}", b.display()),
                    None => "topped up (the carrier did not tell the balance)".to_string(),
                },
            );
            Ok(0)
        }
        Command::Balance => {
            let balance = client(cli)?.balance()?;
            out.value(&out::money(&balance), || balance.display());
            Ok(0)
        }
        Command::Account => show(out, client(cli)?.account()?),
        Command::Rates { numbers } => show(out, client(cli)?.rates(&numbers.join("|"))?),
        Command::Records {
            from,
            to,
            count,
            callshop,
        } => {
            let source = if *callshop {
                RecordSource::Callshop
            } else {
                RecordSource::Cdrs
            };
            show(
                out,
                client(cli)?.call_records(source, from, to.as_deref(), *count)?,
            )
        }
        Command::NumberCheck { number } => show(out, client(cli)?.number_check(number)?),
        Command::Dialin => show(out, client(cli)?.dialin_numbers()?),
        Command::Callthrough { a, b } => show(out, client(cli)?.store_callthrough(a, b)?),
        Command::Lines { passwords } => show(out, client(cli)?.voip_lines(*passwords)?),
        Command::Card { op } => card(cli, op, out),
        Command::Info => {
            let client = client(cli)?;
            let dsn = dsn::redact(&dsn::load(cli.dsn_file.as_deref())?);
            let caps = codes::capability_names(client.capabilities());
            out.value(
                &json!({
                    "carrier": client.carrier(),
                    "dsn": dsn,
                    "capabilities": caps,
                    "version": env!("CARGO_PKG_VERSION"),
                }),
                || {
                    format!(
                        "carrier       {}\ndsn           {dsn}\ncapabilities  {}",
                        client.carrier(),
                        caps.join(" ")
                    )
                },
            );
            Ok(0)
        }
    }
}

fn card(cli: &Cli, op: &CardOp, out: &Out) -> Result<i32, Failure> {
    let client = client(cli)?;
    let (card, show_pin) = match op {
        CardOp::Show { number, show_pin } => (client.card_show(number)?, *show_pin),
        CardOp::Create {
            number,
            amount,
            customer,
            sms,
            sms_text,
            show_pin,
        } => (
            client.card_create(&NewCard {
                number: number.clone(),
                customer: customer.clone(),
                amount: amount.clone(),
                send_sms: *sms,
                sms_text: sms_text.clone(),
            })?,
            *show_pin,
        ),
        CardOp::Block { number } => (client.card_block(number)?, false),
        CardOp::Unblock { number } => (client.card_unblock(number)?, false),
        CardOp::Disable { number } => (client.card_disable(number)?, false),
        CardOp::ChangeNumber { number, new_number } => {
            (client.card_change_number(number, new_number)?, false)
        }
        CardOp::Activate { number, pin_file } => {
            let pin = read_pin(pin_file.as_deref())?;
            (client.card_activate(number, &pin)?, false)
        }
    };
    let mut v = serde_json::to_value(&card).map_err(|e| Failure::argument(e.to_string()))?;
    if !show_pin && !v["pin"].is_null() {
        v["pin"] = json!("***");
    }
    out.value(&v, || out::human(&v));
    Ok(0)
}

/// Prints a result of the account services.
fn show(out: &Out, result: impl serde::Serialize) -> Result<i32, Failure> {
    let v = serde_json::to_value(result)
        .map_err(|e| Failure::argument(format!("cannot write the result: {e}")))?;
    out.value(&v, || out::human(&v));
    Ok(0)
}

/// The PIN environment variable of `topup` and `card activate`.
const PIN_ENV: &str = "CALLCONNECT_PIN";

/// A PIN from a file (`-`: standard input) or `$CALLCONNECT_PIN`: a secret, so never
/// from the command line.
fn read_pin(file: Option<&Path>) -> Result<String, Failure> {
    let text = match file {
        Some(p) if p == Path::new("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_line(&mut s)
                .map_err(|e| Failure::argument(format!("cannot read the PIN: {}", e.kind())))?;
            s
        }
        Some(p) => std::fs::read_to_string(p).map_err(|e| {
            Failure::argument(format!(
                "cannot read the PIN file {}: {}",
                p.display(),
                e.kind()
            ))
        })?,
        None => std::env::var(PIN_ENV).map_err(|_| {
            Failure::argument(format!("no PIN: give --pin-file PATH or set {PIN_ENV}"))
        })?,
    };
    Ok(text.trim().to_string())
}

/// Ctrl-C (SIGINT) as messages on a channel.
fn interrupt_channel() -> Result<Receiver<()>, Failure> {
    let (tx, rx) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })
    .map_err(|e| Failure {
        kind: ErrorKind::Internal,
        message: format!("cannot take Ctrl-C: {e}"),
        carrier_code: None,
    })?;
    Ok(rx)
}

/// Whether a poll error is worth waiting out while following a call.
fn passing(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Network | ErrorKind::Timeout | ErrorKind::Protocol
    )
}

/// Follows a call until it ends, printing each change. Ctrl-C hangs it up; the command
/// then waits for the carrier to confirm the end (a second Ctrl-C stops waiting).
fn follow_call(
    call: &Call,
    out: &Out,
    interrupts: &Receiver<()>,
    interval: Duration,
    hangup_wait: Duration,
) -> Result<i32, Failure> {
    let started = Instant::now();
    let mut shown: Option<(CallState, bool)> = None;
    let mut interrupted: Option<Instant> = None;
    let mut show = |status: &CallStatus| {
        let key = (status.state, status.hangup_pending);
        if shown != Some(key) {
            shown = Some(key);
            out.progress(started.elapsed(), status);
        }
    };
    loop {
        match call.poll() {
            Ok(status) => {
                show(&status);
                if status.state.is_final() {
                    return Ok(if interrupted.is_some() {
                        EXIT_INTERRUPTED
                    } else if status.state == CallState::Failed {
                        EXIT_CALL_FAILED
                    } else {
                        0
                    });
                }
            }
            Err(e) if passing(e.kind()) => out.warn(&format!(
                "could not ask for the status ({}); trying again",
                Failure::from(e)
            )),
            Err(e) => return Err(e.into()),
        }
        if let Some(at) = interrupted {
            if at.elapsed() > hangup_wait {
                out.warn("the carrier did not confirm the end of the call in time");
                out.note_reference(call);
                return Ok(EXIT_HANGUP_UNCONFIRMED);
            }
        }
        match interrupts.recv_timeout(interval) {
            Ok(()) if interrupted.is_some() => {
                out.warn("second Ctrl-C: leaving without the carrier's confirmation");
                out.note_reference(call);
                return Ok(EXIT_HANGUP_UNCONFIRMED);
            }
            Ok(()) => {
                interrupted = Some(Instant::now());
                out.interrupt();
                let status = call.hangup()?;
                show(&status);
            }
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {}
        }
    }
}

/// The status of a call as JSON (the fields of `cc_status`).
pub fn status_json(s: &CallStatus) -> Value {
    json!({
        "state": s.state.name(),
        "reason": s.reason.name(),
        "failed_leg": match s.failed_leg {
            callconnect::Leg::A => json!("A"),
            callconnect::Leg::B => json!("B"),
            _ => Value::Null,
        },
        "duration_s": s.duration_s,
        "cost": s.cost.as_ref().map(out::money),
        "raw_code": s.raw_code,
        "live": s.live,
        "hangup_pending": s.hangup_pending,
        "timed_out": s.timed_out,
        "last_change_unix_ms": s.last_change_unix_ms(),
    })
}

#[cfg(test)]
mod version_tests {
    /// `callconnect --version` names the library's release: the command's version is the
    /// library's (root Cargo.toml), so that a release bumps both.
    #[test]
    fn the_command_has_the_library_version() {
        let root = include_str!("../../Cargo.toml");
        let lib = root
            .lines()
            .find_map(|l| l.strip_prefix("version = \""))
            .and_then(|v| v.strip_suffix('"'))
            .expect("a version line in the root Cargo.toml");
        assert_eq!(env!("CARGO_PKG_VERSION"), lib);
    }
}
