//! Account services a carrier may offer besides calls: the account and its balance,
//! rates, call records, a number check, dial-in numbers, VoIP lines and calling cards.
//!
//! A carrier that has them returns itself from `Provider::account_services`; the client
//! ([`crate::account`]) checks what a person typed and calls these methods. Arguments
//! arrive checked (dates are real dates, amounts decimal, PINs alphanumeric); phone
//! numbers arrive as typed, for the carrier to read with its default country.

use crate::account::{
    Account, CallRecord, Card, DialIn, NewCard, NumberCheck, Rate, RecordQuery, VoipLine,
};
use crate::error::Result;

/// One operation of the calling-card module, on the card of `number`.
#[derive(Debug, Clone, Copy)]
pub enum CardOp<'a> {
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
pub trait AccountServices: Send + Sync {
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
