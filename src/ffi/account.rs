//! Account services in the C ABI: the balance (typed), and the account, rates, call
//! records, number check, dial-in numbers, VoIP lines and calling cards as JSON strings
//! whose shapes are documented in docs/account.md and include/schemas/.

use std::ffi::c_char;

use serde::Serialize;

use super::handles::client_of;
use super::types::{cc_client, cc_result, MAX_NUMBER_ARG, MAX_SHORT_ARG, MAX_SMS_ARG};
use super::util::{
    copy_to_array, ffi_boundary, opt_out, opt_str_arg, out_arg, out_string, str_arg, Out,
};
use crate::account::{Card, NewCard, RecordSource};
use crate::error::{Error, Result};
use crate::Client;

const MAX_DATE_ARG: usize = 32;

/// The account's balance, filled by `cc_account_balance`. Owned by the caller; no
/// pointer inside, nothing to free.
#[repr(C)]
pub struct cc_balance {
    /// The balance as a decimal string with `.` (`"15.4426"`, `"-0.50"`). Never a float.
    pub amount: [c_char; 32],
    /// ISO 4217 currency of `amount` (`"EUR"`).
    pub currency: [c_char; 8],
    /// The carrier's customer number; "" when it gave none.
    pub customer_number: [c_char; 32],
    /// The carrier's account number; "" when it gave none.
    pub account_number: [c_char; 32],
    /// Zero (room for fields to come without changing the struct's size).
    pub reserved: [u64; 4],
}

fn put_json<T: Serialize>(out: Out<*mut c_char>, value: &T) -> Result<()> {
    let text = serde_json::to_string(value)
        .map_err(|_| Error::internal("a result could not be written as JSON"))?;
    out.set(out_string(&text));
    Ok(())
}

/// Writes the JSON if the host asked for it (`out` not NULL).
fn put_json_opt<T: Serialize>(out: *mut *mut c_char, value: &T) -> Result<()> {
    match opt_out(out) {
        Some(out) => put_json(out, value),
        None => Ok(()),
    }
}

/// Asks the carrier for the account's balance (a fresh request, unlike
/// `cc_known_balance`) and fills `*out_balance` (caller-owned) on success.
///
/// Ownership: `*out_balance` is caller-owned memory, written only on success.
/// Thread safety: any thread; one client serves several threads at once.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_INVALID_ARGUMENT (NULL out_balance),
/// CC_ERR_UNSUPPORTED (the carrier has no account services), CC_ERR_AUTH,
/// CC_ERR_NETWORK, CC_ERR_TIMEOUT, CC_ERR_PROTOCOL, CC_ERR_PROVIDER, CC_ERR_NOT_FOUND
/// (the carrier listed no account), CC_ERR_INTERNAL.
#[no_mangle]
pub extern "C" fn cc_account_balance(
    client: *mut cc_client,
    out_balance: *mut cc_balance,
) -> cc_result {
    ffi_boundary! {
        let c = client_of(client)?;
        let out_balance = out_arg(out_balance, "out_balance")?;
        let a = c.account()?;
        let mut out = cc_balance {
            amount: [0; 32],
            currency: [0; 8],
            customer_number: [0; 32],
            account_number: [0; 32],
            reserved: [0; 4],
        };
        copy_to_array(&mut out.amount, &a.balance.amount);
        copy_to_array(
            &mut out.currency,
            a.balance.currency.as_deref().unwrap_or(""),
        );
        copy_to_array(
            &mut out.customer_number,
            a.customer_number.as_deref().unwrap_or(""),
        );
        copy_to_array(
            &mut out.account_number,
            a.account_number.as_deref().unwrap_or(""),
        );
        out_balance.set(out);
        Ok(())
    }
}

/// The account as JSON (schema `account.schema.json`): customer name and number,
/// account number, balance `{"amount": "15.4426", "currency": "EUR"}`, and `accounts`,
/// every account the carrier listed. `*out_json` is owned by the caller (free with
/// `cc_string_free`).
///
/// Ownership: on success `*out_json` is owned by the caller (free with `cc_string_free`).
/// Thread safety: any thread; one client serves several threads at once.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_INVALID_ARGUMENT, CC_ERR_UNSUPPORTED,
/// CC_ERR_AUTH, CC_ERR_NETWORK, CC_ERR_TIMEOUT, CC_ERR_PROTOCOL, CC_ERR_PROVIDER,
/// CC_ERR_NOT_FOUND, CC_ERR_INTERNAL.
#[no_mangle]
pub extern "C" fn cc_account_info(client: *mut cc_client, out_json: *mut *mut c_char) -> cc_result {
    ffi_boundary! {
        let c = client_of(client)?;
        let out = out_arg(out_json, "out_json")?;
        put_json(out, &c.account()?)
    }
}

/// The carrier's price for each of the `|`-separated `numbers` (as typed, e.g.
/// `"0171 1234567|030 1234567"`), as a JSON list in the same order (schema
/// `rates.schema.json`): `{"input", "number", "destination", "prefix", "price"}`, where
/// the last three are null for a number the carrier gave no rate for. `*out_json` is
/// owned by the caller (free with `cc_string_free`).
///
/// Ownership: `numbers` is borrowed for the call; on success `*out_json` is owned by the
/// caller (free with `cc_string_free`).
/// Thread safety: any thread; one client serves several threads at once.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_INVALID_ARGUMENT, CC_ERR_INVALID_NUMBER
/// (checked before anything is sent), CC_ERR_UNSUPPORTED, CC_ERR_AUTH, CC_ERR_NETWORK,
/// CC_ERR_TIMEOUT, CC_ERR_PROTOCOL, CC_ERR_PROVIDER, CC_ERR_INTERNAL.
#[no_mangle]
pub extern "C" fn cc_account_rates(
    client: *mut cc_client,
    numbers: *const c_char,
    out_json: *mut *mut c_char,
) -> cc_result {
    ffi_boundary! {
        let c = client_of(client)?;
        let numbers = str_arg(numbers, "numbers", MAX_NUMBER_ARG)?;
        let out = out_arg(out_json, "out_json")?;
        put_json(out, &c.rates(numbers)?)
    }
}

fn records(
    source: RecordSource,
    client: *mut cc_client,
    from: *const c_char,
    to: *const c_char,
    count: u32,
    out_json: *mut *mut c_char,
) -> Result<()> {
    let c = client_of(client)?;
    let from = str_arg(from, "from", MAX_DATE_ARG)?;
    let to = opt_str_arg(to, "to", MAX_DATE_ARG)?;
    let out = out_arg(out_json, "out_json")?;
    let list = c.call_records(source, from, to.as_deref(), Some(count))?;
    put_json(out, &list)
}

/// Call records of the account (42call `cdrs`) for the days `from` to `to`
/// (`"YYYY-MM-DD"`, both included; `to` NULL or "": the day `from`), at most `count` of
/// them, the latest (0: the carrier's default). `*out_json` is a JSON list of records,
/// oldest first (schema `call_records.schema.json`); `[]` when there is none, whichever
/// way the carrier said so. Owned by the caller (free with `cc_string_free`).
///
/// Ownership: the dates are borrowed for the call; on success `*out_json` is owned by
/// the caller (free with `cc_string_free`).
/// Thread safety: any thread; one client serves several threads at once.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_INVALID_ARGUMENT (a date that is not
/// YYYY-MM-DD, a range that ends before it starts, count above 10000),
/// CC_ERR_UNSUPPORTED, CC_ERR_AUTH, CC_ERR_NETWORK, CC_ERR_TIMEOUT, CC_ERR_PROTOCOL,
/// CC_ERR_PROVIDER, CC_ERR_INTERNAL.
#[no_mangle]
pub extern "C" fn cc_account_call_records(
    client: *mut cc_client,
    from: *const c_char,
    to: *const c_char,
    count: u32,
    out_json: *mut *mut c_char,
) -> cc_result {
    ffi_boundary! { records(RecordSource::Cdrs, client, from, to, count, out_json) }
}

/// Call records of a callshop account (42call `cdr-callshop`), in the same record shape
/// and with the same arguments, results and ownership as `cc_account_call_records`.
///
/// Ownership: as `cc_account_call_records`.
/// Thread safety: any thread; one client serves several threads at once.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_INVALID_ARGUMENT, CC_ERR_UNSUPPORTED,
/// CC_ERR_AUTH, CC_ERR_NETWORK, CC_ERR_TIMEOUT, CC_ERR_PROTOCOL, CC_ERR_PROVIDER,
/// CC_ERR_INTERNAL.
#[no_mangle]
pub extern "C" fn cc_account_callshop_records(
    client: *mut cc_client,
    from: *const c_char,
    to: *const c_char,
    count: u32,
    out_json: *mut *mut c_char,
) -> cc_result {
    ffi_boundary! { records(RecordSource::Callshop, client, from, to, count, out_json) }
}

/// What the carrier knows of a number (42call `v3/number-check`), as JSON (schema
/// `number_check.schema.json`): `{"number", "country_code", "prefix", "subscriber",
/// "destination"}`. `*out_json` is owned by the caller (free with `cc_string_free`).
///
/// Ownership: `number` is borrowed for the call; on success `*out_json` is owned by the
/// caller (free with `cc_string_free`).
/// Thread safety: any thread; one client serves several threads at once.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_INVALID_ARGUMENT, CC_ERR_INVALID_NUMBER
/// (not a possible number: nothing is sent), CC_ERR_NOT_FOUND (the carrier knows
/// nothing of it), CC_ERR_UNSUPPORTED, CC_ERR_AUTH, CC_ERR_NETWORK, CC_ERR_TIMEOUT,
/// CC_ERR_PROTOCOL, CC_ERR_PROVIDER, CC_ERR_INTERNAL.
#[no_mangle]
pub extern "C" fn cc_account_number_check(
    client: *mut cc_client,
    number: *const c_char,
    out_json: *mut *mut c_char,
) -> cc_result {
    ffi_boundary! {
        let c = client_of(client)?;
        let number = str_arg(number, "number", MAX_SHORT_ARG)?;
        let out = out_arg(out_json, "out_json")?;
        put_json(out, &c.number_check(number)?)
    }
}

/// The account's dial-in and callback numbers (42call `onlinecallthrough`), as JSON
/// (schema `dialin.schema.json`): maps from country (`"DE"`) to E.164 number, empty
/// when the account has none of a kind. `*out_json` is owned by the caller (free with
/// `cc_string_free`).
///
/// Ownership: on success `*out_json` is owned by the caller (free with `cc_string_free`).
/// Thread safety: any thread; one client serves several threads at once.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_INVALID_ARGUMENT, CC_ERR_UNSUPPORTED,
/// CC_ERR_AUTH, CC_ERR_NETWORK, CC_ERR_TIMEOUT, CC_ERR_PROTOCOL, CC_ERR_PROVIDER,
/// CC_ERR_INTERNAL.
#[no_mangle]
pub extern "C" fn cc_account_dialin_numbers(
    client: *mut cc_client,
    out_json: *mut *mut c_char,
) -> cc_result {
    ffi_boundary! {
        let c = client_of(client)?;
        let out = out_arg(out_json, "out_json")?;
        put_json(out, &c.dialin_numbers()?)
    }
}

/// Stores the callthrough target: when `a_number` calls the dial-in number, the carrier
/// connects it to `b_number`. Sent once (never repeated). On success, if `out_json` is
/// not NULL, `*out_json` is the dial-in JSON as after `cc_account_dialin_numbers`, owned
/// by the caller (free with `cc_string_free`).
///
/// Ownership: the numbers are borrowed for the call; `out_json` may be NULL, else on
/// success `*out_json` is owned by the caller (free with `cc_string_free`).
/// Thread safety: any thread; one client serves several threads at once.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_INVALID_ARGUMENT, CC_ERR_INVALID_NUMBER,
/// CC_ERR_UNSUPPORTED, CC_ERR_AUTH, CC_ERR_NETWORK, CC_ERR_TIMEOUT, CC_ERR_PROTOCOL,
/// CC_ERR_PROVIDER, CC_ERR_INTERNAL.
#[no_mangle]
pub extern "C" fn cc_account_store_callthrough(
    client: *mut cc_client,
    a_number: *const c_char,
    b_number: *const c_char,
    out_json: *mut *mut c_char,
) -> cc_result {
    ffi_boundary! {
        let c = client_of(client)?;
        let a = str_arg(a_number, "a_number", MAX_SHORT_ARG)?;
        let b = str_arg(b_number, "b_number", MAX_SHORT_ARG)?;
        let d = c.store_callthrough(a, b)?;
        put_json_opt(out_json, &d)
    }
}

/// The account's VoIP lines (42call `voiplist`) as a JSON list (schema
/// `voip_lines.schema.json`); `[]` when there is none. SIP passwords are secrets: with
/// `include_passwords` false every `password` is null (`"password_form": "omitted"`);
/// with true, `password_form` says whether it is `"plain"` (decoded from the carrier's
/// base64) or `"base64"` (the carrier's text, which did not decode to text). The library
/// never logs them or puts them in a message. `*out_json` is owned by the caller (free
/// with `cc_string_free`; a host that keeps passwords should wipe its own copies).
///
/// Ownership: on success `*out_json` is owned by the caller (free with `cc_string_free`).
/// Thread safety: any thread; one client serves several threads at once.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_INVALID_ARGUMENT, CC_ERR_UNSUPPORTED,
/// CC_ERR_AUTH, CC_ERR_NETWORK, CC_ERR_TIMEOUT, CC_ERR_PROTOCOL, CC_ERR_PROVIDER,
/// CC_ERR_INTERNAL.
#[no_mangle]
pub extern "C" fn cc_account_voip_lines(
    client: *mut cc_client,
    include_passwords: bool,
    out_json: *mut *mut c_char,
) -> cc_result {
    ffi_boundary! {
        let c = client_of(client)?;
        let out = out_arg(out_json, "out_json")?;
        put_json(out, &c.voip_lines(include_passwords)?)
    }
}

/// Creates a calling card for the phone `number` with `amount` of credit (a decimal
/// with `.`, e.g. `"5.00"`, in the account's currency). `customer` may be NULL (the
/// carrier uses the number). With `send_sms`, the carrier texts the customer
/// `sms_text`, or its own template when `sms_text` is NULL; an SMS costs money. The
/// request is never repeated: CC_ERR_OUTCOME_UNKNOWN when it may have reached the
/// carrier unanswered (check with `cc_card_show`). On success, if `out_json` is not
/// NULL, `*out_json` is the card as JSON (schema `card.schema.json`, with its PIN),
/// owned by the caller (free with `cc_string_free`).
///
/// Ownership: the strings are borrowed for the call; `out_json` may be NULL, else on
/// success `*out_json` is owned by the caller (free with `cc_string_free`).
/// Thread safety: any thread; one client serves several threads at once.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_INVALID_ARGUMENT, CC_ERR_INVALID_NUMBER,
/// CC_ERR_UNSUPPORTED, CC_ERR_AUTH, CC_ERR_INSUFFICIENT_FUNDS, CC_ERR_NETWORK,
/// CC_ERR_TIMEOUT, CC_ERR_PROTOCOL, CC_ERR_PROVIDER, CC_ERR_OUTCOME_UNKNOWN,
/// CC_ERR_INTERNAL.
#[no_mangle]
pub extern "C" fn cc_card_create(
    client: *mut cc_client,
    number: *const c_char,
    customer: *const c_char,
    amount: *const c_char,
    send_sms: bool,
    sms_text: *const c_char,
    out_json: *mut *mut c_char,
) -> cc_result {
    ffi_boundary! {
        let c = client_of(client)?;
        let card = NewCard {
            number: str_arg(number, "number", MAX_SHORT_ARG)?.to_string(),
            customer: opt_str_arg(customer, "customer", MAX_SHORT_ARG)?,
            amount: str_arg(amount, "amount", 32)?.to_string(),
            send_sms,
            sms_text: opt_str_arg(sms_text, "sms_text", MAX_SMS_ARG)?,
        };
        let made = c.card_create(&card)?;
        put_json_opt(out_json, &made)
    }
}

/// The calling card of `number` as JSON (schema `card.schema.json`). `*out_json` is
/// owned by the caller (free with `cc_string_free`).
///
/// Ownership: `number` is borrowed for the call; on success `*out_json` is owned by the
/// caller (free with `cc_string_free`).
/// Thread safety: any thread; one client serves several threads at once.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_INVALID_ARGUMENT, CC_ERR_INVALID_NUMBER,
/// CC_ERR_NOT_FOUND (no card for this number), CC_ERR_UNSUPPORTED, CC_ERR_AUTH,
/// CC_ERR_NETWORK, CC_ERR_TIMEOUT, CC_ERR_PROTOCOL, CC_ERR_PROVIDER, CC_ERR_INTERNAL.
#[no_mangle]
pub extern "C" fn cc_card_show(
    client: *mut cc_client,
    number: *const c_char,
    out_json: *mut *mut c_char,
) -> cc_result {
    ffi_boundary! {
        let c = client_of(client)?;
        let number = str_arg(number, "number", MAX_SHORT_ARG)?;
        let out = out_arg(out_json, "out_json")?;
        put_json(out, &c.card_show(number)?)
    }
}

/// The body of `cc_card_block`, `cc_card_unblock` and `cc_card_disable`: one request on
/// the card of `number`, the card as JSON on success if the host asked for it.
fn card_state(
    client: *mut cc_client,
    number: *const c_char,
    out_json: *mut *mut c_char,
    op: fn(&Client, &str) -> Result<Card>,
) -> Result<()> {
    let c = client_of(client)?;
    let number = str_arg(number, "number", MAX_SHORT_ARG)?;
    put_json_opt(out_json, &op(&c, number)?)
}

/// Blocks the calling card of `number` (`"active": false` afterwards). Sent once. On
/// success, if `out_json` is not NULL, `*out_json` is the card as JSON, owned by the
/// caller (free with `cc_string_free`).
///
/// Ownership: `number` is borrowed for the call; `out_json` may be NULL, else on success
/// `*out_json` is owned by the caller (free with `cc_string_free`).
/// Thread safety: any thread; one client serves several threads at once.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_INVALID_ARGUMENT, CC_ERR_INVALID_NUMBER,
/// CC_ERR_NOT_FOUND, CC_ERR_UNSUPPORTED, CC_ERR_AUTH, CC_ERR_NETWORK, CC_ERR_TIMEOUT,
/// CC_ERR_PROTOCOL, CC_ERR_PROVIDER, CC_ERR_INTERNAL.
#[no_mangle]
pub extern "C" fn cc_card_block(
    client: *mut cc_client,
    number: *const c_char,
    out_json: *mut *mut c_char,
) -> cc_result {
    ffi_boundary! { card_state(client, number, out_json, Client::card_block) }
}

/// Unblocks the calling card of `number`. As `cc_card_block` otherwise.
///
/// Ownership: as `cc_card_block`.
/// Thread safety: any thread; one client serves several threads at once.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_INVALID_ARGUMENT, CC_ERR_INVALID_NUMBER,
/// CC_ERR_NOT_FOUND, CC_ERR_UNSUPPORTED, CC_ERR_AUTH, CC_ERR_NETWORK, CC_ERR_TIMEOUT,
/// CC_ERR_PROTOCOL, CC_ERR_PROVIDER, CC_ERR_INTERNAL.
#[no_mangle]
pub extern "C" fn cc_card_unblock(
    client: *mut cc_client,
    number: *const c_char,
    out_json: *mut *mut c_char,
) -> cc_result {
    ffi_boundary! { card_state(client, number, out_json, Client::card_unblock) }
}

/// Disables the calling card of `number` (42call `disableCliByNumber`; needs the DSN
/// option `realm`). As `cc_card_block` otherwise.
///
/// Ownership: as `cc_card_block`.
/// Thread safety: any thread; one client serves several threads at once.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_INVALID_ARGUMENT (also: no `realm` in
/// the DSN), CC_ERR_INVALID_NUMBER, CC_ERR_NOT_FOUND, CC_ERR_UNSUPPORTED, CC_ERR_AUTH,
/// CC_ERR_NETWORK, CC_ERR_TIMEOUT, CC_ERR_PROTOCOL, CC_ERR_PROVIDER, CC_ERR_INTERNAL.
#[no_mangle]
pub extern "C" fn cc_card_disable(
    client: *mut cc_client,
    number: *const c_char,
    out_json: *mut *mut c_char,
) -> cc_result {
    ffi_boundary! { card_state(client, number, out_json, Client::card_disable) }
}

/// Moves the calling card of `number` to `new_number` (42call `changeCliByNumber`;
/// needs the DSN option `realm`). Sent once. On success, if `out_json` is not NULL,
/// `*out_json` is the card as JSON, owned by the caller (free with `cc_string_free`).
///
/// Ownership: the numbers are borrowed for the call; `out_json` may be NULL, else on
/// success `*out_json` is owned by the caller (free with `cc_string_free`).
/// Thread safety: any thread; one client serves several threads at once.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_INVALID_ARGUMENT (also: no `realm`),
/// CC_ERR_INVALID_NUMBER, CC_ERR_NOT_FOUND, CC_ERR_UNSUPPORTED, CC_ERR_AUTH,
/// CC_ERR_NETWORK, CC_ERR_TIMEOUT, CC_ERR_PROTOCOL, CC_ERR_PROVIDER, CC_ERR_INTERNAL.
#[no_mangle]
pub extern "C" fn cc_card_change_number(
    client: *mut cc_client,
    number: *const c_char,
    new_number: *const c_char,
    out_json: *mut *mut c_char,
) -> cc_result {
    ffi_boundary! {
        let c = client_of(client)?;
        let number = str_arg(number, "number", MAX_SHORT_ARG)?;
        let new_number = str_arg(new_number, "new_number", MAX_SHORT_ARG)?;
        put_json_opt(out_json, &c.card_change_number(number, new_number)?)
    }
}

/// Activates the calling card of `number` with its `pin` (1 to 64 letters or digits;
/// never logged or put in a message; needs the DSN option `realm`). Never repeated:
/// CC_ERR_OUTCOME_UNKNOWN when it may have reached the carrier unanswered. On success,
/// if `out_json` is not NULL, `*out_json` is the card as JSON, owned by the caller
/// (free with `cc_string_free`).
///
/// Ownership: the number and the PIN are borrowed for the call; `out_json` may be NULL,
/// else on success `*out_json` is owned by the caller (free with `cc_string_free`).
/// Thread safety: any thread; one client serves several threads at once.
///
/// Returns CC_OK, CC_ERR_INVALID_HANDLE, CC_ERR_INVALID_ARGUMENT (also: no `realm`),
/// CC_ERR_INVALID_NUMBER, CC_ERR_NOT_FOUND, CC_ERR_UNSUPPORTED, CC_ERR_AUTH,
/// CC_ERR_NETWORK, CC_ERR_TIMEOUT, CC_ERR_PROTOCOL, CC_ERR_PROVIDER (e.g. 42call 1200:
/// PIN not valid), CC_ERR_OUTCOME_UNKNOWN, CC_ERR_INTERNAL.
#[no_mangle]
pub extern "C" fn cc_card_activate(
    client: *mut cc_client,
    number: *const c_char,
    pin: *const c_char,
    out_json: *mut *mut c_char,
) -> cc_result {
    ffi_boundary! {
        let c = client_of(client)?;
        let number = str_arg(number, "number", MAX_SHORT_ARG)?;
        let pin = str_arg(pin, "pin", MAX_SHORT_ARG)?;
        put_json_opt(out_json, &c.card_activate(number, pin)?)
    }
}
