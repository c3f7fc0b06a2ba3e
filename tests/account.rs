//! 42call account services end to end against the simulator, through the Rust API.

use std::time::{Duration, Instant};

use callconnect::account::{NewCard, PasswordForm, RecordSource};
use callconnect::{CallOptions, Client, ErrorKind};
use callconnect_sim::{Config, Simulator};
use serde_json::Value;

fn sim() -> Simulator {
    Simulator::start(Config {
        step_ms: 50,
        ..Default::default()
    })
    .unwrap()
}

fn dsn(sim: &Simulator, user: &str, extra: &str) -> String {
    let password = if user.starts_with("test") {
        format!("secret-{user}")
    } else {
        format!("{user}-secret")
    };
    format!(
        "42call://{user}:{password}@127.0.0.1:{}?tls=0&default_country=49&timeout_ms=3000{extra}",
        sim.port()
    )
}

fn client(sim: &Simulator, user: &str) -> Client {
    Client::new(&dsn(sim, user, "&realm=testRealm")).unwrap()
}

fn control(sim: &Simulator, path: &str) -> Value {
    let mut resp = ureq::get(format!(
        "http://127.0.0.1:{}/_sim/42call/{path}",
        sim.port()
    ))
    .call()
    .unwrap();
    serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap()
}

fn stat(sim: &Simulator, name: &str) -> u64 {
    sim.stats()["42call"][name].as_u64().unwrap_or(0)
}

fn module_requests(sim: &Simulator, module: &str) -> u64 {
    sim.stats()["42call"]["module_requests"][module]
        .as_u64()
        .unwrap_or(0)
}

fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Civil from days (H. Hinnant), UTC: the simulator keeps its records in UTC.
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[test]
fn balance_and_account() {
    let sim = sim();
    let c = client(&sim, "test-acc");
    let a = c.account().unwrap();
    assert_eq!(a.balance.amount, "18.40");
    assert_eq!(a.balance.currency.as_deref(), Some("EUR"));
    assert_eq!(a.customer_name.as_deref(), Some("Kunde test-acc"));
    assert!(a.customer_number.is_some() && a.account_number.is_some());
    assert_eq!(a.accounts.len(), 1);
    // A fresh balance refreshes the known one.
    assert_eq!(c.known_balance().unwrap().amount, "18.40");
    c.send_sms("0171 1234567", "x").unwrap();
    assert_eq!(c.balance().unwrap().display(), "18.31 EUR");

    // The account reply names no currency: a fresh client takes the DSN's, one that has
    // heard the carrier's takes that.
    let chf = Client::new(&dsn(&sim, "test-acc", "&currency=CHF")).unwrap();
    assert_eq!(chf.balance().unwrap().currency.as_deref(), Some("CHF"));
    chf.send_sms("0171 1234567", "x").unwrap();
    assert_eq!(chf.balance().unwrap().currency.as_deref(), Some("EUR"));

    let wrong = Client::new(&dsn(&sim, "demo", "").replace("demo-secret", "hunter2")).unwrap();
    let e = wrong.account().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert!(!e.to_string().contains("hunter2"));
}

#[test]
fn rates_in_order_with_unpriced_numbers() {
    let sim = sim();
    let c = client(&sim, "test-rates");
    let r = c
        .rates("0171 1234567|030 1234567|+44 20 7946 0958|0171 1234404")
        .unwrap();
    assert_eq!(r.len(), 4);
    assert_eq!(r[0].input, "0171 1234567");
    assert_eq!(r[0].number, "+491711234567");
    assert_eq!(r[0].destination.as_deref(), Some("Germany Mobile T-Mobile"));
    assert_eq!(r[0].prefix.as_deref(), Some("+49171"));
    assert_eq!(r[0].price.as_ref().unwrap().display(), "0.10 EUR");
    assert_eq!(r[1].price.as_ref().unwrap().display(), "0.04 EUR");
    assert_eq!(r[1].prefix.as_deref(), Some("+49"));
    assert_eq!(r[2].destination.as_deref(), Some("United Kingdom"));
    // The simulator gives no rate for a number ending in 404.
    assert!(r[3].price.is_none() && r[3].destination.is_none());
    assert_eq!(module_requests(&sim, "rates"), 1);
    // Impossible numbers never reach the carrier.
    assert_eq!(
        c.rates("0171 1234567|12").unwrap_err().kind(),
        ErrorKind::InvalidNumber
    );
    assert_eq!(c.rates("").unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(module_requests(&sim, "rates"), 1);
}

#[test]
fn call_records_nothing_then_a_finished_call() {
    let sim = sim();
    let c = client(&sim, "test-cdr");
    let day = today();
    // Nothing yet: cdrs sends no body at all, cdr-callshop an empty array.
    for source in [RecordSource::Cdrs, RecordSource::Callshop] {
        assert!(c.call_records(source, &day, None, None).unwrap().is_empty());
    }
    let call = c
        .start_call("0171 1234567", "030 1234567", &CallOptions::default())
        .unwrap();
    let id = call.id().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    while control(&sim, &format!("call?user=test-cdr&id={id}"))["stage"] != "ended" {
        assert!(Instant::now() < deadline, "the simulated call did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
    c.send_sms("0171 7654321", "receipt").unwrap();
    let table = c
        .call_records(RecordSource::Cdrs, &day, Some(&day), Some(10))
        .unwrap();
    assert_eq!(table.len(), 2, "{table:?}");
    let call_rec = &table[0];
    assert_eq!(call_rec.kind.as_deref(), Some("CALLBACK"));
    assert_eq!(call_rec.number, "+49301234567");
    assert_eq!(call_rec.duration_s, 20);
    assert_eq!(call_rec.destination.as_deref(), Some("Germany"));
    assert!(call_rec.start.starts_with(&format!("{day}T")));
    // 20 s at 0.04 a minute is 0.0133; the table rounds to cents.
    assert_eq!(call_rec.cost.display(), "0.01 EUR");
    assert_eq!(table[1].kind.as_deref(), Some("SMS"));
    assert_eq!(table[1].cost.amount, "0.09");
    let shop = c
        .call_records(RecordSource::Callshop, &day, None, None)
        .unwrap();
    assert_eq!(shop.len(), 1);
    assert_eq!(shop[0].cost.display(), "0.0133 EUR");
    assert_eq!(shop[0].caller.as_deref(), Some("+491711234567"));
    assert_eq!(shop[0].billed_s, Some(20));
    assert_eq!(shop[0].source, "cdr-callshop");
    // The call was paid for: 18.40 - 0.0133 - 0.09.
    assert_eq!(c.balance().unwrap().amount, "18.2967");

    // The carrier's documented history on the demo account.
    let demo = client(&sim, "demo");
    let r = demo
        .call_records(RecordSource::Cdrs, "2014-02-14", Some("2014-02-19"), None)
        .unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].number, "ONNET214806");
    assert_eq!(r[0].cost.amount, "0.00");
    assert_eq!(r[1].duration_s, 601);
    assert_eq!(r[1].start, "2014-02-19T16:50:48");
    let latest = demo
        .call_records(
            RecordSource::Cdrs,
            "2014-02-14",
            Some("2014-02-20"),
            Some(1),
        )
        .unwrap();
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].start, "2014-02-20T21:51:56");
    let shop = demo
        .call_records(RecordSource::Callshop, "2014-02-20", None, None)
        .unwrap();
    assert_eq!(shop[0].cost.display(), "0.0012 EUR");

    // Dates a person types wrongly never reach the carrier.
    let before = module_requests(&sim, "cdrs");
    for (from, to) in [
        ("20.02.2014", None),
        ("2014-02-30", None),
        ("2014-02-20", Some("2014-02-19")),
    ] {
        let e = demo
            .call_records(RecordSource::Cdrs, from, to, None)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{from}");
    }
    assert_eq!(
        demo.call_records(RecordSource::Cdrs, "2014-02-20", None, Some(10_001))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(module_requests(&sim, "cdrs"), before);
}

#[test]
fn callshop_dates_in_either_form() {
    let sim = sim();
    let day = today();
    // The document's YYYY-MM-DD (default) and 42com's own sample's d.m.Y.
    for extra in ["", "&callshop_dates=iso", "&callshop_dates=dotted"] {
        let c = Client::new(&dsn(&sim, "test-shopdates", extra)).unwrap();
        let r = c
            .call_records(RecordSource::Callshop, &day, None, None)
            .unwrap();
        assert!(r.is_empty(), "{extra}: {r:?}");
    }
    assert_eq!(module_requests(&sim, "cdr-callshop"), 3);
    // The option really changes the form on the wire: only a d.m.Y query meets this.
    let dotted = format!("{}.{}.{}", &day[8..10], &day[5..7], &day[..4]);
    sim.arm_reply(
        &format!("cdr-callshop&from={dotted}"),
        1,
        callconnect_sim::SimResponse::json(
            200,
            &serde_json::json!({"error": true, "codes": [{"code": 504, "description": "asked with d.m.Y"}], "body": []}),
        ),
    );
    let iso = Client::new(&dsn(&sim, "test-shopdates", "")).unwrap();
    assert!(iso
        .call_records(RecordSource::Callshop, &day, None, None)
        .is_ok());
    let c = Client::new(&dsn(&sim, "test-shopdates", "&callshop_dates=dotted")).unwrap();
    let e = c
        .call_records(RecordSource::Callshop, &day, None, None)
        .unwrap_err();
    assert!(e.message().contains("asked with d.m.Y"), "{e}");
    let e = Client::new(&dsn(&sim, "test-shopdates", "&callshop_dates=us")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.message().contains("callshop_dates"), "{e}");
}

#[test]
fn number_check() {
    let sim = sim();
    let c = client(&sim, "test-nc");
    let n = c.number_check("0179 1234567").unwrap();
    assert_eq!(n.number, "+491791234567");
    assert_eq!(n.country_code, 49);
    assert_eq!(n.prefix.as_deref(), Some("+49179"));
    assert_eq!(n.subscriber.as_deref(), Some("1234567"));
    assert_eq!(n.destination.as_deref(), Some("Germany Mobile O2"));
    let e = c.number_check("0171 1234404").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.carrier_code(), Some("1001"));
    assert_eq!(
        c.number_check("0171").unwrap_err().kind(),
        ErrorKind::InvalidNumber
    );
    assert_eq!(module_requests(&sim, "v3/number-check"), 2);
}

#[test]
fn dialin_numbers_and_callthrough_target() {
    let sim = sim();
    let c = client(&sim, "test-dial");
    let d = c.dialin_numbers().unwrap();
    assert_eq!(d.dialin_geo["DE"], "+493034649495");
    assert_eq!(d.dialin_free["GB"], "+448000148915");
    assert!(d.callback_free.is_empty());
    assert_eq!(d.personal_dialin.as_deref(), Some("+493034649495"));
    assert!(d.callthrough_a.is_none());
    let d = c.store_callthrough("0171 1234567", "030 1234567").unwrap();
    assert_eq!(d.callthrough_a.as_deref(), Some("+491711234567"));
    assert_eq!(d.callthrough_b.as_deref(), Some("+49301234567"));
    assert_eq!(
        c.dialin_numbers().unwrap().callthrough_b.as_deref(),
        Some("+49301234567")
    );
    assert_eq!(
        c.store_callthrough("0171", "030 1234567")
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidNumber
    );
    // An account without numbers: the carrier's empty arrays are empty maps.
    let d = client(&sim, "broke").dialin_numbers().unwrap();
    assert!(d.dialin_geo.is_empty() && d.callback_geo.is_empty());
    assert!(d.personal_dialin.is_none());
}

#[test]
fn voip_lines_and_their_passwords() {
    let sim = sim();
    let c = client(&sim, "test-voip");
    let lines = c.voip_lines(true).unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].id, "sip_1");
    assert_eq!(lines[0].password_form, PasswordForm::Plain);
    assert_eq!(
        lines[0].password.as_ref().unwrap().expose(),
        "Sip-test-voip-pw1"
    );
    assert_eq!(lines[0].transports, ["TCP"]);
    assert_eq!(lines[0].codecs, ["ilbc", "speex16", "speex8"]);
    assert_eq!(lines[1].password_form, PasswordForm::Base64);
    assert!(!format!("{lines:?}").contains("Sip-test-voip-pw1"));
    let hidden = c.voip_lines(false).unwrap();
    assert!(hidden
        .iter()
        .all(|l| l.password.is_none() && l.password_form == PasswordForm::Omitted));
    let json = serde_json::to_string(&hidden).unwrap();
    assert!(!json.contains("Sip-test-voip-pw1"));
    assert!(client(&sim, "broke").voip_lines(true).unwrap().is_empty());
    assert!(client(&sim, "nocard").voip_lines(true).unwrap().is_empty());
}

fn new_card(number: &str, sms: bool) -> NewCard {
    NewCard {
        number: number.into(),
        customer: Some("Booth 4".into()),
        amount: "5.00".into(),
        send_sms: sms,
        sms_text: sms.then(|| "Your card is ready".to_string()),
    }
}

#[test]
fn card_life() {
    let sim = sim();
    let c = client(&sim, "test-card");
    let sms_before = stat(&sim, "sms_sent");
    let card = c.card_create(&new_card("0171 5550001", true)).unwrap();
    assert_eq!(card.number, "+491715550001");
    assert_eq!(card.customer.as_deref(), Some("Booth 4"));
    assert_eq!(card.credit.display(), "5.00 EUR");
    assert!(card.active);
    let pin = card.pin.clone().unwrap();
    assert_eq!(pin.expose().len(), 9);
    assert_eq!(stat(&sim, "cards_created"), 1);
    assert_eq!(stat(&sim, "sms_sent"), sms_before + 1);
    // 18.40 - 5.00 on the card - 0.09 for the SMS.
    assert_eq!(c.balance().unwrap().amount, "13.31");

    let sim_state =
        |n: &str| control(&sim, &format!("card?user=test-card&number={n}"))["state"].clone();
    let blocked = c.card_block("0171 5550001").unwrap();
    assert!(!blocked.active);
    assert_eq!(sim_state("491715550001"), "blocked");
    assert!(!c.card_show("+49 171 5550001").unwrap().active);
    let unblocked = c.card_unblock("0171 5550001").unwrap();
    assert!(unblocked.active);
    assert_eq!(sim_state("491715550001"), "active");

    let moved = c
        .card_change_number("0171 5550001", "0171 5550002")
        .unwrap();
    assert_eq!(moved.number, "+491715550002");
    assert_eq!(
        c.card_show("0171 5550001").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let disabled = c.card_disable("0171 5550002").unwrap();
    assert!(!disabled.active);
    assert_eq!(sim_state("491715550002"), "disabled");
    assert_eq!(
        c.card_unblock("0171 5550002").unwrap_err().kind(),
        ErrorKind::Provider
    );

    // A wrong PIN: the carrier's code, never the PIN in the message.
    let e = c.card_activate("0171 5550002", "123456789").unwrap_err();
    assert_eq!(e.carrier_code(), Some("1200"));
    assert!(!e.to_string().contains("123456789"));
    let active = c.card_activate("0171 5550002", pin.expose()).unwrap();
    assert!(active.active);
    assert_eq!(stat(&sim, "card_activations"), 1);

    // No card: an empty body (show) or code 1001 (the rest) is NotFound.
    let e = c.card_show("0171 5550099").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let e = c.card_block("0171 5550099").unwrap_err();
    assert_eq!(
        (e.kind(), e.carrier_code()),
        (ErrorKind::NotFound, Some("1001"))
    );

    // Creation without SMS sends none; a card is created once.
    let sms = stat(&sim, "sms_sent");
    c.card_create(&new_card("0171 5550003", false)).unwrap();
    assert_eq!(stat(&sim, "sms_sent"), sms);
    assert_eq!(stat(&sim, "cards_created"), 2);
    let e = c.card_create(&new_card("0171 5550003", false)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Provider);
    assert_eq!(module_requests(&sim, "mycard-v2/insert"), 3);
}

#[test]
fn card_arguments_and_carrier_refusals() {
    let sim = sim();
    let c = client(&sim, "test-card2");
    let before = stat(&sim, "requests");
    for (amount, sms_text, send) in [
        ("-1", None, false),
        ("5.00001", None, false),
        ("abc", None, false),
        ("5", Some("text without sms"), false),
    ] {
        let card = NewCard {
            number: "0171 5550001".into(),
            customer: None,
            amount: amount.into(),
            send_sms: send,
            sms_text: sms_text.map(str::to_string),
        };
        assert_eq!(
            c.card_create(&card).unwrap_err().kind(),
            ErrorKind::InvalidArgument,
            "{amount}"
        );
    }
    assert_eq!(
        c.card_create(&new_card("0171", true)).unwrap_err().kind(),
        ErrorKind::InvalidNumber
    );
    assert_eq!(
        c.card_activate("0171 5550001", "12 34").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    // Without the realm in the DSN, the realm's operations are refused before sending.
    let no_realm = Client::new(&dsn(&sim, "test-card2", "")).unwrap();
    for e in [
        no_realm.card_disable("0171 5550001").unwrap_err(),
        no_realm
            .card_change_number("0171 5550001", "0171 5550002")
            .unwrap_err(),
        no_realm.card_activate("0171 5550001", "123").unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.message().contains("realm"), "{e}");
    }
    assert_eq!(stat(&sim, "requests"), before);
    // A wrong realm is refused by the carrier.
    let wrong = Client::new(&dsn(&sim, "test-card2", "&realm=other")).unwrap();
    assert_eq!(
        wrong
            .card_disable("0171 5550001")
            .unwrap_err()
            .carrier_code(),
        Some("403")
    );
    // Too little credit for the card.
    let e = client(&sim, "broke")
        .card_create(&new_card("0171 5550001", true))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InsufficientFunds);
    // The card module's path is a DSN option.
    let elsewhere = Client::new(&dsn(&sim, "test-card2", "&card_path=/nowhere/")).unwrap();
    let e = elsewhere.card_show("0171 5550001").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Provider);
    assert!(e.message().contains("404"), "{e}");
    let by_field = Client::new(&dsn(&sim, "test-card2", "&card_path=/api/rest/v2/")).unwrap();
    by_field
        .card_create(&new_card("0171 5550004", false))
        .unwrap();
    assert!(by_field.card_show("0171 5550004").unwrap().active);
    assert!(Client::new(&dsn(&sim, "test-card2", "&card_path=nowhere")).is_err());
}
