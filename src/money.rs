//! Amounts of money as decimal strings (never floats), with the currency apart.
//!
//! Carriers write amounts in several ways (`"18,40"`, `"0,10 EUR"`, `"15,4426"`,
//! `"0.01"`, `0.515`); [`Money::parse`] reads them all into one form: digits, an optional
//! leading `-`, and `.` as the decimal separator.

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Money {
    /// `"18.40"`, `"-0.0012"`, `"0"`.
    pub amount: String,
    /// ISO 4217 in upper case (`"EUR"`), when known.
    pub currency: Option<String>,
}

impl Money {
    /// Reads an amount with an optional currency before or after it.
    pub fn parse(text: &str, default_currency: Option<&str>) -> Result<Money> {
        let bad = || {
            Error::protocol(format!(
                "carrier sent an amount that is not a number: '{}'",
                clip(text)
            ))
        };
        let mut number = None;
        let mut currency = None;
        for word in text.split_whitespace() {
            if word.chars().any(|c| c.is_ascii_digit()) {
                if number.is_some() {
                    return Err(bad());
                }
                number = Some(word);
            } else if word.len() == 3 && word.chars().all(|c| c.is_ascii_alphabetic()) {
                currency = Some(word.to_ascii_uppercase());
            } else if word == "€" {
                currency = Some("EUR".into());
            } else {
                return Err(bad());
            }
        }
        let amount = normalise_decimal(number.ok_or_else(bad)?).ok_or_else(bad)?;
        Ok(Money {
            amount,
            currency: currency.or_else(|| default_currency.map(|c| c.to_ascii_uppercase())),
        })
    }

    /// `"18.40 EUR"`, or just the amount when the currency is unknown.
    pub fn display(&self) -> String {
        match &self.currency {
            Some(c) => format!("{} {c}", self.amount),
            None => self.amount.clone(),
        }
    }
}

/// `a >= b` for normalised decimals (digits, an optional `.`, an optional leading `-`;
/// see [`normalise_decimal`]).
pub fn decimal_ge(a: &str, b: &str) -> bool {
    let (an, bn) = (a.starts_with('-'), b.starts_with('-'));
    if an != bn {
        return bn;
    }
    if an {
        return decimal_ge(&b[1..], &a[1..]);
    }
    let (ai, af) = a.split_once('.').unwrap_or((a, ""));
    let (bi, bf) = b.split_once('.').unwrap_or((b, ""));
    let (ai, bi) = (ai.trim_start_matches('0'), bi.trim_start_matches('0'));
    if ai.len() != bi.len() {
        return ai.len() > bi.len();
    }
    if ai != bi {
        return ai > bi;
    }
    let n = af.len().max(bf.len());
    format!("{af:0<n$}") >= format!("{bf:0<n$}")
}

/// `"18,40"` -> `"18.40"`; `"1.234,5"` -> `"1234.5"`; `"-0.515"` stays. `None` if it is not
/// a decimal number.
pub fn normalise_decimal(text: &str) -> Option<String> {
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if t.is_empty()
        || !t
            .chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == '.')
    {
        return None;
    }
    // The last separator is the decimal one; any earlier ones group thousands.
    let (int_part, frac) = match t.rfind([',', '.']) {
        Some(i) => (&t[..i], &t[i + 1..]),
        None => (t, ""),
    };
    let int_digits: String = int_part.chars().filter(|c| c.is_ascii_digit()).collect();
    if !frac.chars().all(|c| c.is_ascii_digit()) || (int_digits.is_empty() && frac.is_empty()) {
        return None;
    }
    let int_digits = int_digits.trim_start_matches('0');
    let int_digits = if int_digits.is_empty() {
        "0"
    } else {
        int_digits
    };
    let mut out = String::new();
    if neg && (int_digits != "0" || frac.chars().any(|c| c != '0')) {
        out.push('-');
    }
    out.push_str(int_digits);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    Some(out)
}

fn clip(s: &str) -> String {
    s.chars().take(32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carrier_forms() {
        let m = |s: &str| Money::parse(s, Some("eur")).unwrap();
        assert_eq!(
            m("18,40"),
            Money {
                amount: "18.40".into(),
                currency: Some("EUR".into())
            }
        );
        assert_eq!(m("0,10 EUR").amount, "0.10");
        assert_eq!(m("15,4426").amount, "15.4426");
        assert_eq!(m("0.01").amount, "0.01");
        assert_eq!(m("0.515").amount, "0.515");
        assert_eq!(m("1.234,56").amount, "1234.56");
        assert_eq!(m("-0,0012").amount, "-0.0012");
        assert_eq!(m("USD 3").display(), "3 USD");
        assert_eq!(Money::parse("7", None).unwrap().display(), "7");
        for bad in ["", "EUR", "1,2,x", "ab 1", "1 2", "--1"] {
            assert!(Money::parse(bad, None).is_err(), "{bad}");
        }
    }
}
