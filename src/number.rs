//! Phone numbers as a person types them, read with libphonenumber's metadata (the
//! `phonenumber` crate) and written in the form each carrier wants.

use crate::error::{Error, ErrorKind, Result};

/// The longest text accepted as one phone number (formatting characters included).
const MAX_NUMBER_TEXT: usize = 64;
/// The most numbers accepted in one `n1|n2|...` list.
pub const MAX_NUMBERS_IN_LIST: usize = 100;

/// A valid phone number in international form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Number {
    country_code: u16,
    /// Country code and national number, digits only (`4917112345678`).
    digits: String,
}

impl Number {
    /// `+4917112345678`.
    pub fn e164(&self) -> String {
        format!("+{}", self.digits)
    }
    /// `4917112345678`: full international form without `+` or leading zeros.
    pub fn international_digits(&self) -> &str {
        &self.digits
    }
    /// `004917112345678`: the international form with the `00` access code.
    pub fn with_00(&self) -> String {
        format!("00{}", self.digits)
    }
    pub fn country_code(&self) -> u16 {
        self.country_code
    }
}

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "+{}", self.digits)
    }
}

/// Whether `code` is a country calling code that libphonenumber knows.
pub fn is_country_code(code: u16) -> bool {
    phonenumber::metadata::DATABASE.by_code(&code).is_some()
}

fn region_of(code: u16) -> Option<phonenumber::country::Id> {
    let list = phonenumber::metadata::DATABASE.by_code(&code)?;
    // The first entry is the country's main region (e.g. US for 1, DE for 49).
    let meta = list.first()?;
    meta.id().parse().ok()
}

/// Reads one number as a person typed it (`0171 1234567`, `+49 171 1234567`,
/// `0049 171 1234567`, `(030) 123-456`). National forms need `default_country`.
pub fn parse(input: &str, default_country: Option<u16>) -> Result<Number> {
    let bad = |why: &str| {
        Error::new(
            ErrorKind::InvalidNumber,
            format!("'{}': {why}", shown(input)),
        )
    };
    let text = input.trim();
    if text.is_empty() {
        return Err(Error::new(ErrorKind::InvalidNumber, "empty phone number"));
    }
    if text.len() > MAX_NUMBER_TEXT {
        return Err(Error::new(
            ErrorKind::InvalidNumber,
            format!("phone number longer than {MAX_NUMBER_TEXT} characters"),
        ));
    }
    if !text
        .chars()
        .all(|c| c.is_ascii_digit() || " +-()./".contains(c))
    {
        return Err(bad("only digits, '+', spaces and - ( ) . / are allowed"));
    }
    let region = default_country.and_then(region_of);
    // Without a default country, `00` is read as the international access code.
    let owned;
    let text = if region.is_none() && text.starts_with("00") {
        owned = format!("+{}", &text[2..]);
        owned.as_str()
    } else {
        text
    };
    if region.is_none() && !text.starts_with('+') {
        return Err(bad(
            "a national number needs default_country in the DSN (or write it with +)",
        ));
    }
    let parsed = phonenumber::parse(region, text).map_err(|_| bad("not a phone number"))?;
    if !phonenumber::is_valid(&parsed) {
        return Err(bad("not a valid number in its country's numbering plan"));
    }
    let code = parsed.code().value();
    let national = parsed.national().to_string();
    let formatted = parsed.format().mode(phonenumber::Mode::E164).to_string();
    let digits = formatted.trim_start_matches('+').to_string();
    // A number of another country than the default one must also be valid written in
    // full: libphonenumber reads `01378669120 450` with Israel as the default country
    // (013 is one of Israel's international prefixes) as +7 8669120450 and calls it
    // valid, yet refuses +78669120450 itself (found by the `number` fuzz target).
    if default_country != Some(code) {
        let full = phonenumber::parse(None, &formatted).map_err(|_| bad("not a phone number"))?;
        if !phonenumber::is_valid(&full) {
            return Err(bad("not a valid number in its country's numbering plan"));
        }
    }
    debug_assert!(digits.ends_with(&national));
    Ok(Number {
        country_code: code,
        digits,
    })
}

/// Reads a `|`-separated list of numbers (`n1|n2|...`), each as [`parse`] does.
pub fn parse_list(input: &str, default_country: Option<u16>) -> Result<Vec<Number>> {
    let parts: Vec<&str> = input.split('|').collect();
    if parts.len() > MAX_NUMBERS_IN_LIST {
        return Err(Error::invalid_argument(format!(
            "more than {MAX_NUMBERS_IN_LIST} numbers in one list"
        )));
    }
    parts
        .into_iter()
        .map(|p| parse(p, default_country))
        .collect()
}

/// The typed text, shortened for a message (numbers are not secret, but can be long).
fn shown(input: &str) -> String {
    let t: String = input.trim().chars().take(24).collect();
    if input.trim().chars().count() > 24 {
        format!("{t}...")
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_people_type() {
        for typed in [
            "0171 1234567",
            "+49 171 1234567",
            "0049 171 1234567",
            "0049-171-1234567",
            "(0171) 123 4567",
        ] {
            let n = parse(typed, Some(49)).unwrap();
            assert_eq!(n.e164(), "+491711234567", "{typed}");
            assert_eq!(n.international_digits(), "491711234567");
            assert_eq!(n.with_00(), "00491711234567");
            assert_eq!(n.country_code(), 49);
        }
        // Without a default country, international forms still work.
        assert_eq!(
            parse("0049 171 1234567", None).unwrap().e164(),
            "+491711234567"
        );
        assert_eq!(
            parse("+1 212 555 0100", None).unwrap().e164(),
            "+12125550100"
        );
        // The Israeli example of the PokeTALK docs: the trunk zero goes.
        assert_eq!(
            parse("050-2345678", Some(972))
                .unwrap()
                .international_digits(),
            "972502345678"
        );
    }

    #[test]
    fn refuses_impossible_numbers() {
        for typed in [
            "",
            "12",
            "0171",
            "+49 000",
            "abc",
            "0171 1234567 ext",
            "+999 1234",
        ] {
            let e = parse(typed, Some(49)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidNumber, "{typed}");
        }
        let e = parse("0171 1234567", None).unwrap_err();
        assert!(e.message().contains("default_country"));
        // Valid only through another country's international prefix: refused (a fuzz
        // finding, fuzz/seeds/number/israel_idd_prefix).
        assert_eq!(
            parse("01378669120 450", Some(972)).unwrap_err().kind(),
            ErrorKind::InvalidNumber
        );
        let long = "1".repeat(1 << 20);
        assert_eq!(
            parse(&long, Some(49)).unwrap_err().kind(),
            ErrorKind::InvalidNumber
        );
    }

    #[test]
    fn lists() {
        let l = parse_list("0171 1234567|+4930123456", Some(49)).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[1].e164(), "+4930123456");
        assert!(parse_list("0171 1234567|", Some(49)).is_err());
    }
}
