//! The client's account-service methods: each checks what a person typed, then asks the
//! carrier's [`AccountServices`] (shapes and trait in [`crate::account`]).

use crate::account::*;
use crate::error::{Error, Result};
use crate::money::Money;

use super::{Client, MAX_SMS_TEXT};

impl Client {
    fn services(&self) -> Result<&dyn AccountServices> {
        let provider = self.live()?;
        provider.account_services().ok_or_else(|| {
            Error::unsupported(format!("{} has no account services", provider.scheme()))
        })
    }

    /// The customer, the account numbers and the balance, asked afresh from the carrier.
    pub fn account(&self) -> Result<Account> {
        self.services()?.account()
    }

    /// The balance, asked afresh from the carrier (see [`Client::known_balance`] for the
    /// last one heard without asking).
    pub fn balance(&self) -> Result<Money> {
        Ok(self.account()?.balance)
    }

    /// The carrier's price for each of the `|`-separated numbers (as typed), in order.
    pub fn rates(&self, numbers: &str) -> Result<Vec<Rate>> {
        let services = self.services()?;
        if numbers.trim().is_empty() {
            return Err(Error::invalid_argument("no number to price"));
        }
        services.rates(numbers)
    }

    /// Call records of the days `from` to `to` (`YYYY-MM-DD`, both included; `to`
    /// `None` or empty: the same day as `from`), at most `count` (`None` or 0: the
    /// carrier's default), oldest first. No record is an empty list.
    pub fn call_records(
        &self,
        source: RecordSource,
        from: &str,
        to: Option<&str>,
        count: Option<u32>,
    ) -> Result<Vec<CallRecord>> {
        let services = self.services()?;
        let from = Date::parse(from).map_err(|e| e.context("from"))?;
        let to = match to.map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) => Date::parse(t).map_err(|e| e.context("to"))?,
            None => from,
        };
        if to < from {
            return Err(Error::invalid_argument(format!(
                "the date range ends ({}) before it starts ({})",
                to.iso(),
                from.iso()
            )));
        }
        let count = count.filter(|c| *c != 0);
        if count.is_some_and(|c| c > MAX_RECORD_COUNT) {
            return Err(Error::invalid_argument(format!(
                "count must be at most {MAX_RECORD_COUNT}"
            )));
        }
        services.call_records(&RecordQuery {
            source,
            from,
            to,
            count,
        })
    }

    /// What the carrier knows of a number (its destination and prefix).
    pub fn number_check(&self, number: &str) -> Result<NumberCheck> {
        self.services()?.number_check(number)
    }

    /// The account's dial-in and callback numbers.
    pub fn dialin_numbers(&self) -> Result<DialIn> {
        self.services()?.dialin_numbers()
    }

    /// Stores the callthrough target: when `a` calls the dial-in number, the carrier
    /// connects it to `b`. Returns the dial-in numbers as the carrier shows them after.
    pub fn store_callthrough(&self, a: &str, b: &str) -> Result<DialIn> {
        self.services()?.store_callthrough(a, b)
    }

    /// The account's VoIP lines. Passwords are secrets: ask for them only when needed.
    pub fn voip_lines(&self, include_passwords: bool) -> Result<Vec<VoipLine>> {
        self.services()?.voip_lines(include_passwords)
    }

    /// Creates a calling card with `amount` of credit (a decimal such as `5.00`),
    /// optionally sending the customer an SMS (which costs money). Never repeated on a
    /// fault: an unknown outcome is `ErrorKind::OutcomeUnknown`.
    pub fn card_create(&self, card: &NewCard) -> Result<Card> {
        let services = self.services()?;
        let amount = crate::money::normalise_decimal(&card.amount)
            .filter(|a| !a.starts_with('-'))
            .filter(|a| a.split('.').nth(1).is_none_or(|f| f.len() <= 4))
            .filter(|a| a.split('.').next().is_some_and(|i| i.len() <= 9))
            .ok_or_else(|| {
                Error::invalid_argument(
                    "amount must be a decimal such as 5.00 (not negative, at most 4 decimals)",
                )
            })?;
        let customer = card
            .customer
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string);
        if customer.as_ref().is_some_and(|c| c.len() > MAX_NAME) {
            return Err(Error::invalid_argument(format!(
                "the customer name is longer than {MAX_NAME} bytes"
            )));
        }
        let sms_text = card
            .sms_text
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if let Some(t) = &sms_text {
            if !card.send_sms {
                return Err(Error::invalid_argument(
                    "an SMS text was given but no SMS is to be sent",
                ));
            }
            if t.chars().count() > MAX_SMS_TEXT {
                return Err(Error::invalid_argument(format!(
                    "the SMS text is longer than {MAX_SMS_TEXT} characters"
                )));
            }
        }
        let checked = NewCard {
            number: card.number.clone(),
            customer,
            amount,
            send_sms: card.send_sms,
            sms_text,
        };
        services.card(CardOp::Create(&checked))
    }

    /// The card of `number`, as the carrier shows it. `ErrorKind::NotFound` if there is
    /// none.
    pub fn card_show(&self, number: &str) -> Result<Card> {
        self.services()?.card(CardOp::Show(number))
    }

    /// Blocks the card of `number`; returns it as the carrier shows it after.
    pub fn card_block(&self, number: &str) -> Result<Card> {
        self.services()?.card(CardOp::Block(number))
    }

    /// Unblocks the card of `number`.
    pub fn card_unblock(&self, number: &str) -> Result<Card> {
        self.services()?.card(CardOp::Unblock(number))
    }

    /// Disables the card of `number`.
    pub fn card_disable(&self, number: &str) -> Result<Card> {
        self.services()?.card(CardOp::Disable(number))
    }

    /// Moves the card of `number` to `new_number`.
    pub fn card_change_number(&self, number: &str, new_number: &str) -> Result<Card> {
        self.services()?
            .card(CardOp::ChangeNumber { number, new_number })
    }

    /// Activates the card of `number` with its PIN (1 to 64 letters or digits; never
    /// logged or put in a message). Never repeated on a fault.
    pub fn card_activate(&self, number: &str, pin: &str) -> Result<Card> {
        let services = self.services()?;
        let pin = pin.trim();
        if pin.is_empty() || pin.len() > 64 || !pin.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Error::invalid_argument(
                "the PIN must be 1 to 64 letters or digits",
            ));
        }
        services.card(CardOp::Activate { number, pin })
    }
}
