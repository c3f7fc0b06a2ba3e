//! Account services: the account and its balance, rates, call records, a number check,
//! dial-in numbers, VoIP lines and calling cards. The data shapes and the
//! `AccountServices` trait a carrier implements live here together; the client's
//! methods that check what a person typed and call the trait are in `client/account.rs`.
//!
//! The types here are the library's own shapes, whatever the carrier's: amounts are
//! [`Money`] (a decimal string with `.` and the currency apart), dates ISO-8601,
//! durations in seconds, flags booleans, phone numbers E.164 (`+49...`) wherever the
//! carrier sent a number in an international form. Serialised with serde they are the
//! JSON that the C ABI returns (schemas in `include/schemas/`, prose in
//! `docs/account.md`); keep the two in step.

use std::collections::BTreeMap;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::dsn::Secret;
use crate::error::{Error, Result};
use crate::money::Money;

/// The most call records one request may ask for.
pub const MAX_RECORD_COUNT: u32 = 10_000;
pub(crate) const MAX_NAME: usize = 255;

/// The account as the carrier reports it. The top-level fields are those of the first
/// (usually the only) account of the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub customer_name: Option<String>,
    pub customer_number: Option<String>,
    pub account_number: Option<String>,
    #[serde(serialize_with = "money")]
    pub balance: Money,
    /// Every account the carrier listed (at least one).
    pub accounts: Vec<AccountEntry>,
}

/// One account of a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountEntry {
    pub customer_name: Option<String>,
    pub customer_number: Option<String>,
    pub account_number: Option<String>,
    pub account_name: Option<String>,
    #[serde(serialize_with = "money")]
    pub balance: Money,
}

/// The carrier's price for one number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rate {
    /// The number as the host typed it.
    pub input: String,
    /// The same number, E.164.
    pub number: String,
    /// The destination's name (`"Germany Mobile EPlus"`); null when the carrier gave no
    /// rate for this number.
    pub destination: Option<String>,
    /// The prefix the carrier priced by, E.164 style (`"+49177"`); null as above.
    pub prefix: Option<String>,
    /// The carrier's rate for the destination (per minute); null as above.
    #[serde(serialize_with = "opt_money")]
    pub price: Option<Money>,
}

/// Which of the carrier's call-record resources to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordSource {
    /// 42call `cdrs`: every record of the account, as a table.
    Cdrs,
    /// 42call `cdr-callshop`: the records of a callshop account, as a list.
    Callshop,
}

impl RecordSource {
    pub fn name(self) -> &'static str {
        match self {
            RecordSource::Cdrs => "cdrs",
            RecordSource::Callshop => "cdr-callshop",
        }
    }
}

/// Which call records to read: the days `from` to `to` (both included), at most `count`
/// of them (the latest), or the carrier's default number when `count` is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordQuery {
    pub source: RecordSource,
    pub from: Date,
    pub to: Date,
    pub count: Option<u32>,
}

/// One call record, in one shape whichever resource it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallRecord {
    /// When the call started: ISO-8601 (`2014-02-14T15:40:00`), the carrier's local
    /// time as it wrote it (it gives no zone).
    pub start: String,
    /// When it ended, same form; null when the carrier did not say.
    pub end: Option<String>,
    /// Seconds of the call.
    pub duration_s: u32,
    /// Seconds billed; null when the carrier did not say.
    pub billed_s: Option<u32>,
    /// The calling number (E.164 when the carrier wrote it internationally); null when
    /// not given.
    pub caller: Option<String>,
    /// The number called (E.164 when international; otherwise as the carrier wrote it,
    /// e.g. `ONNET214806` for an on-net call).
    pub number: String,
    /// The destination's name (`"Germany Mobile O2"`).
    pub destination: Option<String>,
    /// The customer's name, where the carrier gives it.
    pub customer_name: Option<String>,
    /// The carrier's kind of call (`"VOIP"`, `"CALLTHROUGH"`, `"CALLBACK"`, `"SMS"`).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// What the call cost.
    #[serde(serialize_with = "money")]
    pub cost: Money,
    /// The cost with tax (the carrier's `amounttax`); null when not given.
    #[serde(serialize_with = "opt_money")]
    pub cost_with_tax: Option<Money>,
    /// `"cdrs"` or `"cdr-callshop"`.
    pub source: &'static str,
}

/// What the carrier knows of a number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NumberCheck {
    /// The complete number, E.164.
    pub number: String,
    pub country_code: u16,
    /// The prefix that names the destination, E.164 style (`"+49179"`).
    pub prefix: Option<String>,
    /// The rest of the number after `prefix`.
    pub subscriber: Option<String>,
    /// The destination's name (`"Germany Mobile O2"`).
    pub destination: Option<String>,
}

/// The account's dial-in and callback numbers, by country (ISO 3166 code, upper case),
/// E.164. An empty map when the account has none of a kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DialIn {
    /// The personal dial-in number, if the account has one.
    pub personal_dialin: Option<String>,
    /// Geographic numbers to dial for callthrough.
    pub dialin_geo: BTreeMap<String, String>,
    /// Toll-free numbers to dial for callthrough.
    pub dialin_free: BTreeMap<String, String>,
    /// Geographic numbers of the callback service.
    pub callback_geo: BTreeMap<String, String>,
    /// Toll-free numbers of the callback service.
    pub callback_free: BTreeMap<String, String>,
    /// The stored callthrough caller, when the carrier shows it.
    pub callthrough_a: Option<String>,
    /// The stored callthrough target, when the carrier shows it.
    pub callthrough_b: Option<String>,
}

/// How a VoIP line's password is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum PasswordForm {
    /// Decoded from the carrier's base64: the password itself.
    Plain,
    /// The carrier's text unchanged: it did not decode as base64 to UTF-8 text.
    Base64,
    /// Not asked for (`include_passwords` was false): `password` is null.
    Omitted,
    /// The carrier gave no password: `password` is null.
    None,
}

/// One VoIP line (SIP account) of the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VoipLine {
    /// The carrier's key of the line (`"sip_1"`).
    pub id: String,
    /// `"SIP"`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub username: Option<String>,
    /// A secret: never logged by the library, never in a message. See `password_form`.
    #[serde(serialize_with = "opt_secret")]
    pub password: Option<Secret>,
    pub password_form: PasswordForm,
    /// The registrar, `host[:port]`.
    pub server: Option<String>,
    pub domain: Option<String>,
    pub stun_server: Option<String>,
    pub proxy: Option<String>,
    /// A prefix to dial before numbers.
    pub prefix: Option<String>,
    /// Enabled transports, upper case (`["TCP"]`).
    pub transports: Vec<String>,
    /// Whether the standard ports are used; null when not given.
    pub standard_ports: Option<bool>,
    /// Enabled codecs (`["speex16", "speex8", "ilbc"]`).
    pub codecs: Vec<String>,
    /// Every other setting the carrier sent, `"true"`/`"false"` as booleans, other
    /// text as text (`forbid_self_call`, `echo_cancellation`, `wifi_only`, ...).
    pub settings: BTreeMap<String, serde_json::Value>,
}

/// A calling card as the carrier shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Card {
    /// The card's phone number (its CLI), E.164.
    pub number: String,
    /// The customer's name (the carrier's `Kunde`).
    pub customer: Option<String>,
    /// The card's serial number.
    pub serial: Option<String>,
    /// The card's PIN: a secret (never logged or put in a message by the library).
    #[serde(serialize_with = "opt_secret")]
    pub pin: Option<Secret>,
    /// The card's credit (the carrier's `Amount`).
    #[serde(serialize_with = "money")]
    pub credit: Money,
    /// The carrier's `AmountAll` (total credit of the card); null when not given.
    #[serde(serialize_with = "opt_money")]
    pub credit_total: Option<Money>,
    /// False when the card is blocked or disabled.
    pub active: bool,
}

/// A card to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCard {
    /// The card's phone number, as typed.
    pub number: String,
    /// The customer's name; `None`: the carrier uses the number.
    pub customer: Option<String>,
    /// The credit to put on the card, a decimal with `.` (`"5.00"`), in the account's
    /// currency.
    pub amount: String,
    /// Whether the carrier sends the customer an SMS about the card.
    pub send_sms: bool,
    /// The SMS text; `None`: the carrier's template.
    pub sms_text: Option<String>,
}

/// A calendar date (proleptic Gregorian), as a person types it: `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// Reads `YYYY-MM-DD` (a real date, years 1970 to 9999).
    pub fn parse(text: &str) -> Result<Date> {
        let bad = || {
            Error::invalid_argument(format!(
                "'{}' is not a date of the form YYYY-MM-DD",
                text.chars().take(16).collect::<String>()
            ))
        };
        let t = text.trim();
        let b = t.as_bytes();
        if b.len() != 10
            || b[4] != b'-'
            || b[7] != b'-'
            || !b
                .iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        {
            return Err(bad());
        }
        let year: u16 = t[0..4].parse().map_err(|_| bad())?;
        let month: u8 = t[5..7].parse().map_err(|_| bad())?;
        let day: u8 = t[8..10].parse().map_err(|_| bad())?;
        Date::new(year, month, day).ok_or_else(bad)
    }

    /// A date, if it exists.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || day == 0 {
            return None;
        }
        (day <= days_in_month(year, month)).then_some(Date { year, month, day })
    }

    /// `2014-02-20`.
    pub fn iso(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// `20.02.2014`, the form of 42call's `cdrs`.
    pub fn dotted(&self) -> String {
        format!("{:02}.{:02}.{:04}", self.day, self.month, self.year)
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// One operation of the calling-card module, on the card of `number`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CardOp<'a> {
    /// Creates a card (may send the customer an SMS).
    Create(&'a NewCard),
    /// Shows the card.
    Show(&'a str),
    /// Blocks the card (it can be unblocked).
    Block(&'a str),
    /// Unblocks a blocked card.
    Unblock(&'a str),
    /// Disables the card's number.
    Disable(&'a str),
    /// Moves the card to another number.
    ChangeNumber {
        number: &'a str,
        new_number: &'a str,
    },
    /// Activates the card with its PIN.
    Activate { number: &'a str, pin: &'a str },
}

/// A carrier's account services. Implementations are shared between threads.
///
/// A carrier that has them returns itself from `Provider::account_services`; the client
/// (`client/account.rs`) checks what a person typed and calls these methods. Arguments
/// arrive checked (dates are real dates, amounts decimal, PINs alphanumeric); phone
/// numbers arrive as typed, for the carrier to read with its default country.
pub(crate) trait AccountServices: Send + Sync {
    /// The customer, the account numbers and the balance, asked afresh.
    fn account(&self) -> Result<Account>;
    /// The price of each of the `|`-separated numbers, in their order.
    fn rates(&self, numbers: &str) -> Result<Vec<Rate>>;
    /// Call records, oldest first; an empty list when there are none.
    fn call_records(&self, query: &RecordQuery) -> Result<Vec<CallRecord>>;
    /// What the carrier knows of a number (its destination and prefix).
    fn number_check(&self, number: &str) -> Result<NumberCheck>;
    /// The dial-in and callback numbers of the account.
    fn dialin_numbers(&self) -> Result<DialIn>;
    /// Stores the callthrough target (`a` calls the dial-in number and reaches `b`).
    fn store_callthrough(&self, a: &str, b: &str) -> Result<DialIn>;
    /// The account's VoIP lines; passwords only when `include_passwords`.
    fn voip_lines(&self, include_passwords: bool) -> Result<Vec<VoipLine>>;
    /// One calling-card operation; returns the card as the carrier shows it afterwards.
    fn card(&self, op: CardOp<'_>) -> Result<Card>;
}

struct MoneyJson<'a>(&'a Money);

impl Serialize for MoneyJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Money", 2)?;
        st.serialize_field("amount", &self.0.amount)?;
        st.serialize_field("currency", &self.0.currency)?;
        st.end()
    }
}

fn money<S: Serializer>(m: &Money, s: S) -> std::result::Result<S::Ok, S::Error> {
    MoneyJson(m).serialize(s)
}

fn opt_money<S: Serializer>(m: &Option<Money>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match m {
        Some(m) => MoneyJson(m).serialize(s),
        None => s.serialize_none(),
    }
}

/// The one place a secret of a result is written out: into the JSON the host asked for.
fn opt_secret<S: Serializer>(v: &Option<Secret>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match v {
        Some(secret) => s.serialize_str(secret.expose()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let d = Date::parse("2014-02-20").unwrap();
        assert_eq!(d.iso(), "2014-02-20");
        assert_eq!(d.dotted(), "20.02.2014");
        assert!(Date::parse("2000-02-29").is_ok());
        for bad in [
            "",
            "2014-2-20",
            "20.02.2014",
            "1900-02-29",
            "2013-02-29",
            "2014-13-01",
            "2014-04-31",
            "2014-00-10",
            "2014-01-00",
            "2014/01/01",
            "２０14-01-01",
            "+014-01-01",
        ] {
            assert!(Date::parse(bad).is_err(), "{bad}");
        }
        assert!(Date::parse("2014-01-31").unwrap() < Date::parse("2014-02-01").unwrap());
    }

    #[test]
    fn secrets_hidden_from_debug_but_in_json() {
        let card = Card {
            number: "+4917990000000".into(),
            customer: None,
            serial: Some("1".into()),
            pin: Some(Secret::new("321582778")),
            credit: Money::parse("0,10 EUR", None).unwrap(),
            credit_total: None,
            active: false,
        };
        assert!(!format!("{card:?}").contains("321582778"));
        let json = serde_json::to_value(&card).unwrap();
        assert_eq!(json["pin"], "321582778");
        assert_eq!(
            json["credit"],
            serde_json::json!({"amount": "0.10", "currency": "EUR"})
        );
        assert_eq!(json["credit_total"], serde_json::Value::Null);
        assert_eq!(json["active"], false);
    }
}
