//! Phone numbers as a person types them, read with libphonenumber's metadata (the
//! `phonenumber` crate) and written in the form each carrier wants.

use std::sync::{RwLock, RwLockWriteGuard};

use crate::error::{Error, ErrorKind, Result};
use crate::util::{read_or_recover, write_or_recover};

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

/// The country calling codes of libphonenumber's metadata (the `countryCode`s of its
/// `PhoneNumberMetadata.xml`), sorted. A DSN's `default_country` is checked against this
/// list, so that creating a client does not load the metadata (a few milliseconds and
/// about 1 MiB, paid at the first number instead). The test
/// `country_codes_are_the_metadata_s` holds it to the metadata.
const COUNTRY_CODES: [u16; 215] = [
    1, 7, 20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54,
    55, 56, 57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98, 211,
    212, 213, 216, 218, 220, 221, 222, 223, 224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234,
    235, 236, 237, 238, 239, 240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253,
    254, 255, 256, 257, 258, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 290, 291, 297, 298,
    299, 350, 351, 352, 353, 354, 355, 356, 357, 358, 359, 370, 371, 372, 373, 374, 375, 376, 377,
    378, 380, 381, 382, 383, 385, 386, 387, 389, 420, 421, 423, 500, 501, 502, 503, 504, 505, 506,
    507, 508, 509, 590, 591, 592, 593, 594, 595, 596, 597, 598, 599, 670, 672, 673, 674, 675, 676,
    677, 678, 679, 680, 681, 682, 683, 685, 686, 687, 688, 689, 690, 691, 692, 800, 808, 850, 852,
    853, 855, 856, 870, 878, 880, 881, 882, 883, 886, 888, 960, 961, 962, 963, 964, 965, 966, 967,
    968, 970, 971, 972, 973, 974, 975, 976, 977, 979, 992, 993, 994, 995, 996, 998,
];

/// Whether `code` is a country calling code that libphonenumber knows (without loading
/// its metadata).
pub fn is_country_code(code: u16) -> bool {
    COUNTRY_CODES.binary_search(&code).is_ok()
}

/// Loads libphonenumber's metadata now and, for `country`, compiles every regular
/// expression of its metadata and reads its example numbers in national and
/// international form, instead of at the first number. For a process that forks
/// workers (a PHP-FPM master through `opcache.preload`, a pre-forking daemon): done
/// before the fork, the workers share the loaded data instead of each loading its own.
pub fn warm_up(country: Option<u16>) -> Result<()> {
    let Some(code) = country else {
        let _reading = read_or_recover(&READING);
        decode_every_region();
        return Ok(());
    };
    if !is_country_code(code) {
        return Err(Error::invalid_argument(format!(
            "{code} is not a country calling code"
        )));
    }
    let examples = {
        let _reading = read_or_recover(&READING);
        decode_every_region();
        compile_patterns(code)?
    };
    // And the searches of a national and an international number of each kind; whether
    // each example is valid does not matter here, only that it was read.
    for example in examples {
        let _ = parse(&example, Some(code));
    }
    Ok(())
}

/// Every region decoded now (the built-in database decodes a region when it is first
/// asked for, vendor/phonenumber): forked workers share them.
fn decode_every_region() {
    for _region in phonenumber::metadata::DATABASE.iter() {}
}

/// Compiles every pattern of country `code`, each in the form the library uses it, and
/// returns its example numbers (fixed line and mobile, international and national) to
/// read. Called with [`READING`] held.
fn compile_patterns(code: u16) -> Result<Vec<String>> {
    let db = &*phonenumber::metadata::DATABASE;
    let mut examples = Vec::new();
    for meta in db.by_code(&code).unwrap_or_default() {
        // Every pattern of the country, compiled in the form the library uses it (each
        // kept with its metadata entry, vendor/phonenumber): the validation patterns
        // (the number types' and the leading digits) as start matchers, the others as
        // regexes.
        let d = meta.descriptors();
        let formats = || meta.formats().iter().chain(meta.international_formats());
        for pattern in start_matched(meta) {
            // The fast form (vendor/phonenumber: a pattern used a few times is read by a
            // cheaper-to-build matcher first): workers never build the other.
            pattern
                .prepare()
                .map_err(|e| Error::internal(format!("number metadata: {e}")))?;
        }
        let regexes = formats()
            .map(|f| f.pattern())
            .chain(meta.international_prefix())
            .chain(meta.national_prefix_for_parsing());
        for pattern in regexes {
            pattern.regex();
        }
        for desc in [d.fixed_line(), d.mobile()].into_iter().flatten() {
            let Some(example) = desc.example() else {
                continue;
            };
            examples.push(format!("+{code}{example}"));
            if let Some(prefix) = meta.national_prefix() {
                examples.push(format!("{prefix}{example}"));
            }
        }
    }
    Ok(examples)
}

/// The patterns of a region that phonenumber matches anchored at a number's start
/// (`Pattern::matches_anchored`): its number types' (in whole), its leading digits and
/// its formats'.
fn start_matched(
    meta: &'static phonenumber::Metadata,
) -> impl Iterator<Item = &'static phonenumber::metadata::Pattern> {
    let formats = meta.formats().iter().chain(meta.international_formats());
    meta.descriptors()
        .iter()
        .map(|desc| desc.national_number())
        .chain(meta.leading_digits())
        .chain(formats.flat_map(|f| f.leading_digits()))
}

fn region_of(code: u16) -> Option<phonenumber::country::Id> {
    // The first is the country's main region (e.g. US for 1, DE for 49); by id, so that
    // no region's metadata is decoded for it (+1 has 25 regions).
    let ids = phonenumber::metadata::DATABASE.region(&code)?;
    ids.first()?.parse().ok()
}

/// Held (shared) while phonenumber's metadata and patterns are read: that is where they
/// are decoded and compiled at their first use, each behind a once-only lock, and where
/// the regex engine takes its search caches from a pool behind a lock. A fork waits for
/// the readers to finish ([`hold_for_fork`]), so that a forked child never inherits one
/// of those locks held by a thread it does not have (it would wait for it forever at its
/// first number). Nothing under it calls host code or logs, so the wait is short and
/// cannot be for the forking thread itself. Never taken twice by one thread (a writer
/// waiting between would block the second read).
static READING: RwLock<()> = RwLock::new(());

/// Waits for the threads reading numbers to finish and keeps others from starting, until
/// the guard is dropped: held by the forking thread across a fork (`ffi::handles`).
pub(crate) fn hold_for_fork() -> RwLockWriteGuard<'static, ()> {
    write_or_recover(&READING)
}

/// Runs `f` as a thread reading numbers does (holding [`READING`]).
#[cfg(test)]
pub(crate) fn while_reading<R>(f: impl FnOnce() -> R) -> R {
    let _reading = read_or_recover(&READING);
    f()
}

/// Reads one number as a person typed it (`0171 1234567`, `+49 171 1234567`,
/// `0049 171 1234567`, `(030) 123-456`). National forms need `default_country`.
pub fn parse(input: &str, default_country: Option<u16>) -> Result<Number> {
    let _reading = read_or_recover(&READING);
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
    // full, so that what is dialled is what would be read back: the `number` fuzz
    // target found a number read through another country's international prefix that
    // was not (`01378669120 450` from Israel, before the crate read numbers of +7 as
    // libphonenumber does).
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

    mod answers {
        include!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/common/answers.rs"
        ));
    }

    /// What is dialled is what libphonenumber reads: for every answer of
    /// tests/data/libphonenumber-answers.tsv that a DSN can ask for (no default country
    /// or the main region of one, as `default_country` names it; the characters [`parse`]
    /// takes), the number read or its refusal is libphonenumber's.
    #[test]
    fn numbers_are_dialled_as_libphonenumber_reads_them() {
        let (mut placed, mut refused, mut differ) = (0usize, 0usize, Vec::new());
        for (region, text, expected) in answers::libphonenumber_answers() {
            let (region, text, expected) = (region.as_str(), text.as_str(), expected.as_str());
            let country = match region {
                "-" => None,
                id => {
                    let meta = phonenumber::metadata::DATABASE.by_id(id).unwrap();
                    let code = meta.country_code();
                    if region_of(code).map(|r| r.as_ref().to_string()) != Some(id.to_string()) {
                        continue;
                    }
                    Some(code)
                }
            };
            if !text.chars().all(|c| c.is_ascii_digit() || " +".contains(c)) {
                continue;
            }
            // The Faroe Islands' numbers are left to
            // `warm_up_builds_the_fast_form_of_each_validation_pattern` (this process's
            // other tests must not build their matchers).
            let digits = text.trim_start_matches(['+', '0', ' ']);
            if region == "FO" || digits.starts_with("298") {
                continue;
            }
            let got = parse(text, country).map(|n| n.e164());
            if expected.starts_with('+') {
                placed += 1;
            } else {
                refused += 1;
            }
            let agree = match &got {
                Ok(e164) => e164 == expected,
                Err(e) => !expected.starts_with('+') && e.kind() == ErrorKind::InvalidNumber,
            };
            if !agree {
                differ.push(format!(
                    "{region} {text:?}: {got:?}, libphonenumber {expected}"
                ));
            }
        }
        assert!(
            placed > 10_000 && refused > 10_000,
            "{placed} valid, {refused} not"
        );
        assert!(
            differ.is_empty(),
            "{} differ:\n{}",
            differ.len(),
            differ.join("\n")
        );
    }

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

    /// A national number is read in the calling code's main region, which is not always
    /// the only one nor the first by name: +1 has 25 regions (US first), +7 two, +44 four.
    #[test]
    fn national_numbers_are_read_in_the_code_s_main_region() {
        for (code, region) in [(1, "US"), (7, "RU"), (44, "GB"), (49, "DE"), (262, "RE")] {
            assert_eq!(
                region_of(code).map(|id| id.as_ref().to_string()),
                Some(region.into())
            );
        }
        assert_eq!(region_of(999), None);
        let read = |typed, code| parse(typed, Some(code)).map(|n| n.e164());
        assert_eq!(read("(201) 555-0123", 1).unwrap(), "+12015550123");
        assert_eq!(read("8 (912) 345-67-89", 7).unwrap(), "+79123456789");
        assert_eq!(read("07400 123456", 44).unwrap(), "+447400123456");
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
        // Dialled from Israel through one of its international prefixes (013): the
        // Russian number +7 866 912-04-50, as libphonenumber reads it (a fuzz finding,
        // fuzz/seeds/number/israel_idd_prefix: the unpatched crate took the 8 off as
        // Russia's national prefix and called the number valid only this way).
        assert_eq!(
            parse("01378669120 450", Some(972)).unwrap().e164(),
            "+78669120450"
        );
        assert_eq!(
            parse("+7 866 912 04 50", None).unwrap().e164(),
            "+78669120450"
        );
        let long = "1".repeat(1 << 20);
        assert_eq!(
            parse(&long, Some(49)).unwrap_err().kind(),
            ErrorKind::InvalidNumber
        );
    }

    #[test]
    fn country_codes_are_the_metadata_s() {
        // Calling codes have at most three digits. (`DATABASE.iter()` goes by region and
        // has the non-geographic codes, all region "001", only once.)
        let codes: Vec<u16> = (0..1000)
            .filter(|c| phonenumber::metadata::DATABASE.by_code(c).is_some())
            .collect();
        assert_eq!(codes, COUNTRY_CODES);
    }

    #[test]
    fn warm_up_reads_a_country_and_refuses_unknown_codes() {
        warm_up(None).unwrap();
        warm_up(Some(49)).unwrap();
        warm_up(Some(1)).unwrap();
        assert_eq!(
            warm_up(Some(999)).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        assert_eq!(parse("0171 1234567", Some(49)).unwrap().country_code(), 49);
    }

    /// The limits are where they are said to be, and a refusal shows what was typed
    /// (shortened past 24 characters).
    #[test]
    fn limits_and_messages() {
        let padded = |len: usize| format!("+49 30{}1234567", " ".repeat(len - 13));
        assert_eq!(padded(MAX_NUMBER_TEXT).len(), MAX_NUMBER_TEXT);
        let n = parse(&padded(MAX_NUMBER_TEXT), None).unwrap();
        assert_eq!(n.to_string(), "+49301234567");
        let e = parse(&padded(MAX_NUMBER_TEXT + 1), None).unwrap_err();
        assert!(e.message().contains("longer than 64"), "{e}");

        let list = |n: usize| vec!["0171 1234567"; n].join("|");
        assert_eq!(
            parse_list(&list(MAX_NUMBERS_IN_LIST), Some(49))
                .unwrap()
                .len(),
            100
        );
        let e = parse_list(&list(MAX_NUMBERS_IN_LIST + 1), Some(49)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);

        let e = parse("+49 012 345", None).unwrap_err();
        assert!(e.message().starts_with("'+49 012 345': "), "{e}");
        let long = "+49 01234567 1234567 123456";
        let e = parse(long, None).unwrap_err();
        assert!(
            e.message().starts_with("'+49 01234567 1234567 123...': "),
            "{e}"
        );
        let exact = "+49 01234567 1234567 123";
        assert_eq!(exact.len(), 24);
        let e = parse(exact, None).unwrap_err();
        assert!(e.message().starts_with(&format!("'{exact}': ")), "{e}");
    }

    /// A worker forked after the warm-up builds no matcher: the warm-up builds the fast
    /// form of every validation pattern of the country (not the quick form a pattern's
    /// first uses would). The Faroe Islands: no other test reads their numbers.
    #[test]
    fn warm_up_builds_the_fast_form_of_each_validation_pattern() {
        let db = &*phonenumber::metadata::DATABASE;
        let faroes = || db.by_code(&298).unwrap();
        let before: Vec<_> = faroes().into_iter().flat_map(start_matched).collect();
        assert!(before.len() > 3);
        assert!(before.iter().all(|p| p.start_forms() == (false, false)));
        warm_up(Some(298)).unwrap();
        let after: Vec<_> = faroes().into_iter().flat_map(start_matched).collect();
        assert_eq!(after.len(), before.len());
        for p in after {
            assert_eq!(p.start_forms(), (false, true), "{}", p.as_str());
        }
    }

    /// Numbers of each type of a few countries (the metadata's example numbers), typed
    /// nationally and internationally, with their near misses: which are read, as what,
    /// of which type, and how phonenumber formats them. These go through every number
    /// type's pattern, the national prefixes and the formats, and pin what the patched
    /// phonenumber (vendor/, PATCHES.md) must keep answering.
    #[test]
    fn each_type_of_number_reads_and_formats_as_before() {
        let cases: &[(u16, &str, &str)] = &[
            (49, "0", "30123456"),
            (49, "0", "15123456789"),
            (49, "0", "16412345"),
            (49, "0", "8001234567890"),
            (49, "0", "9001234567"),
            (49, "0", "18012345"),
            (49, "0", "70012345678"),
            (49, "0", "18500123456"),
            (49, "0", "177991234567"),
            (1, "1", "2015550123"),
            (1, "1", "8002345678"),
            (1, "1", "9002345678"),
            (1, "1", "5002345678"),
            (44, "0", "1212345678"),
            (44, "0", "7400123456"),
            (44, "0", "7640123456"),
            (44, "0", "5612345678"),
            (972, "0", "21234567"),
            (972, "0", "502345678"),
            (972, "0", "1700123456"),
            (33, "0", "612345678"),
            (33, "0", "884012345"),
            (54, "0", "1123456789"),
            (54, "0", "8101234567"),
            (39, "", "0212345678"),
            (39, "", "3123456789"),
            (39, "", "1781234567"),
        ];
        for &(code, prefix, national) in cases {
            let e164 = format!("+{code}{national}");
            for typed in [format!("{prefix}{national}"), e164.clone()] {
                let n = parse(&typed, Some(code)).unwrap_or_else(|e| panic!("{typed}: {e:?}"));
                assert_eq!(n.e164(), e164, "{typed}");
            }
        }
        // The type of each, its formats (national and international groupings) and its
        // near misses (a digit more, a digit fewer, another last digit): as the
        // unpatched crate answered.
        let mut seen = String::new();
        for &(code, _, national) in cases {
            let e164 = format!("+{code}{national}");
            let last = e164.chars().last().unwrap();
            let other = char::from(b'0' + (last as u8 - b'0' + 5) % 10);
            let nears = [
                format!("{e164}0"),
                e164[..e164.len() - 1].to_string(),
                format!("{}{other}", &e164[..e164.len() - 1]),
            ];
            let outcome = |t: &str| match parse(t, None) {
                Ok(n) => n.e164(),
                Err(_) => "refused".to_string(),
            };
            let p = phonenumber::parse(None, &e164).unwrap();
            let format = |mode| p.format().mode(mode).to_string();
            seen.push_str(&format!(
                "{:?} | {} | {} | {} | {} | {} | {}\n",
                p.number_type(&phonenumber::metadata::DATABASE),
                format(phonenumber::Mode::National),
                format(phonenumber::Mode::International),
                format(phonenumber::Mode::Rfc3966),
                outcome(&nears[0]),
                outcome(&nears[1]),
                outcome(&nears[2]),
            ));
        }
        assert_eq!(seen, NUMBERS_AS_BEFORE, "seen:\n{seen}");
    }

    /// What `each_type_of_number_reads_and_formats_as_before` saw with phonenumber 0.3.10
    /// before the patches of PATCHES.md (regex-cache, Unicode mode): the type, the
    /// national, international and RFC 3966 forms, then a digit more, a digit fewer and
    /// another last digit. But for two near misses the unpatched crate accepted because a
    /// number type's pattern matched a beginning of them, a German premium-rate and a
    /// UAN number with a digit too many (`+4990012345670`, `+49185001234560`): refused
    /// now, as libphonenumber refuses them (PATCHES.md, change 15).
    const NUMBERS_AS_BEFORE: &str = "\
        FixedLine | 030 123456 | +49 30 123456 | tel:+49-30-123456 | +49301234560 | +493012345 | +4930123451\n\
        Mobile | 01512 3456789 | +49 1512 3456789 | tel:+49-1512-3456789 | refused | refused | +4915123456784\n\
        Pager | 16412345 | +49 16412345 | tel:+49-16412345 | +49164123450 | +491641234 | +4916412340\n\
        TollFree | 0800 1234567890 | +49 800 1234567890 | tel:+49-800-1234567890 | +4980012345678900 | +49800123456789 | +498001234567895\n\
        PremiumRate | 0900 1 234567 | +49 900 1 234567 | tel:+49-900-1-234567 | refused | refused | +499001234562\n\
        SharedCost | 0180 1 2345 | +49 180 1 2345 | tel:+49-180-1-2345 | +49180123450 | refused | +4918012340\n\
        PersonalNumber | 0700 1234 5678 | +49 700 1234 5678 | tel:+49-700-1234-5678 | refused | refused | +4970012345673\n\
        Uan | 018500 123456 | +49 18500 123456 | tel:+49-18500-123456 | refused | refused | +4918500123451\n\
        Voicemail | 0177 99 1234567 | +49 177 99 1234567 | tel:+49-177-99-1234567 | +491779912345670 | +4917799123456 | +49177991234562\n\
        FixedLineOrMobile | (201) 555-0123 | +1 201-555-0123 | tel:+1-201-555-0123 | refused | refused | +12015550128\n\
        TollFree | (800) 234-5678 | +1 800-234-5678 | tel:+1-800-234-5678 | refused | refused | +18002345673\n\
        PremiumRate | (900) 234-5678 | +1 900-234-5678 | tel:+1-900-234-5678 | refused | refused | +19002345673\n\
        PersonalNumber | (500) 234-5678 | +1 500-234-5678 | tel:+1-500-234-5678 | refused | refused | +15002345673\n\
        FixedLine | 0121 234 5678 | +44 121 234 5678 | tel:+44-121-234-5678 | refused | refused | +441212345673\n\
        Mobile | 07400 123456 | +44 7400 123456 | tel:+44-7400-123456 | refused | refused | +447400123451\n\
        Pager | 076 4012 3456 | +44 76 4012 3456 | tel:+44-76-4012-3456 | refused | refused | +447640123451\n\
        Voip | 056 1234 5678 | +44 56 1234 5678 | tel:+44-56-1234-5678 | refused | refused | +445612345673\n\
        FixedLine | 02-123-4567 | +972 2-123-4567 | tel:+972-2-123-4567 | refused | refused | +97221234562\n\
        Mobile | 050-234-5678 | +972 50-234-5678 | tel:+972-50-234-5678 | refused | refused | +972502345673\n\
        SharedCost | 1-700-123-456 | +972 1-700-123-456 | tel:+972-1-700-123-456 | refused | refused | +9721700123451\n\
        Mobile | 06 12 34 56 78 | +33 6 12 34 56 78 | tel:+33-6-12-34-56-78 | refused | refused | +33612345673\n\
        SharedCost | 0 884 01 23 45 | +33 884 01 23 45 | tel:+33-884-01-23-45 | refused | refused | +33884012340\n\
        FixedLine | 011 2345-6789 | +54 11 2345-6789 | tel:+54-11-2345-6789 | refused | refused | +541123456784\n\
        Uan | 0810-123-4567 | +54 810-123-4567 | tel:+54-810-123-4567 | refused | refused | +548101234562\n\
        Unknown | 02 1234 5678 | +39 02 1234 5678 | tel:+39-02-1234-5678 | +3902123456780 | +39021234567 | +390212345673\n\
        Mobile | 312 345 6789 | +39 312 345 6789 | tel:+39-312-345-6789 | refused | refused | +393123456784\n\
        PersonalNumber | 178 123 4567 | +39 178 123 4567 | tel:+39-178-123-4567 | refused | refused | +391781234562\n\
    ";

    /// The characters phonenumber's viability check accepts, over all of Unicode: as
    /// phonenumber 0.3.10 lists them (`parser/helper.rs`: `punctuation`, `digit`,
    /// `alpha`, `plus`, `star`, each a `one_of` list), which the patched crate tests with
    /// predicates instead (vendor/phonenumber, PATCHES.md).
    #[test]
    fn viable_numbers_take_the_same_characters_as_before() {
        const PUNCTUATION: &str = "-x\u{2010}\u{2011}\u{2012}\u{2013}\u{2014}\u{2015}\u{2212}\u{30FC}\u{FF0D}-\u{FF0F} \u{00A0}\u{00AD}\u{200B}\u{2060}\u{3000}()\u{FF08}\u{FF09}\u{FF3B}\u{FF3D}.[]/~\u{2053}\u{223C}\u{FF5E}";
        let punctuation = |c: char| PUNCTUATION.contains(c) || c == '*';
        let mut accepted = 0;
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            // Between digits, after three: punctuation, `*`, a digit or a letter.
            let inside = punctuation(c) || c.is_ascii_alphanumeric();
            assert_eq!(phonenumber::is_viable(format!("123{c}4")), inside, "{c:?}");
            // First: a plus sign, punctuation, `*` or a digit.
            let first = punctuation(c) || c.is_ascii_digit() || c == '+' || c == '\u{FF0B}';
            assert_eq!(phonenumber::is_viable(format!("{c}123")), first, "{c:?}");
            accepted += usize::from(inside);
        }
        // The 62 ASCII letters and digits, 31 punctuation characters besides `x`, `*`.
        assert_eq!(accepted, 62 + 31 + 1);
    }

    /// How phonenumber reads typed forms around the number itself (leading and
    /// trailing characters, a second number, extensions, other digits than ASCII): each
    /// of these goes through the regexes the patched crate now skips when their answer
    /// is known (vendor/phonenumber, PATCHES.md), or through the regexes themselves.
    #[test]
    fn typed_forms_read_as_before() {
        let typed = [
            "+49 30 123456",
            "030 123456",
            "030/123456",
            "(030) 123456)",
            "030 123456 !",
            "030 123456 #",
            "abc 030 123456",
            "*030 123456",
            "030 123456 ext. 12",
            "030 123456 ext 12",
            "030 123456 x12",
            "030 123456;ext=12",
            "030 123456 - 12#",
            "030 123456 / x 17",
            "030 123456 \\ x17",
            "+1 650 253 0000 extn. 4567",
            "+1 650 253 0000 X4567",
            "+1 650 253 0000 anexo 4567",
            "tel:+49-30-123456",
            "tel:+49-30-123456;ext=7",
            "\u{FF10}\u{FF13}\u{FF10} \u{FF11}\u{FF12}\u{FF13}\u{FF14}\u{FF15}\u{FF16}",
            "\u{FF0B}49 30 123456",
            "\u{0660}\u{0663}\u{0660}\u{0661}\u{0662}\u{0663}\u{0664}\u{0665}\u{0666}",
            "0049 30 123456",
            "0800-FLOWERS",
            "030 1234 56x",
            "030 123456,",
            "030 123456.",
            "",
            "x",
        ];
        let mut seen = String::new();
        for t in typed {
            for country in [Some(phonenumber::country::DE), None] {
                seen.push_str(&format!("{:?}\n", phonenumber::parse(country, t)));
            }
        }
        assert_eq!(seen, TYPED_AS_BEFORE, "seen:\n{seen}");
    }

    /// What `typed_forms_read_as_before` saw with phonenumber 0.3.10 before the
    /// patches of PATCHES.md: each text read with Germany as the default country, then
    /// without one.
    const TYPED_AS_BEFORE: &str = "\
        Ok(PhoneNumber { code: Code { value: 49, source: Plus }, national: NationalNumber { value: 30123456 }, extension: None, carrier: None })\n\
        Ok(PhoneNumber { code: Code { value: 49, source: Plus }, national: NationalNumber { value: 30123456 }, extension: None, carrier: None })\n\
        Ok(PhoneNumber { code: Code { value: 49, source: Default }, national: NationalNumber { value: 30123456 }, extension: None, carrier: None })\n\
        Err(InvalidCountryCode)\n\
        Ok(PhoneNumber { code: Code { value: 49, source: Default }, national: NationalNumber { value: 30123456 }, extension: None, carrier: None })\n\
        Err(InvalidCountryCode)\n\
        Ok(PhoneNumber { code: Code { value: 49, source: Default }, national: NationalNumber { value: 30123456 }, extension: None, carrier: None })\n\
        Err(InvalidCountryCode)\n\
        Ok(PhoneNumber { code: Code { value: 49, source: Default }, national: NationalNumber { value: 30123456 }, extension: None, carrier: None })\n\
        Err(InvalidCountryCode)\n\
        Ok(PhoneNumber { code: Code { value: 49, source: Default }, national: NationalNumber { value: 30123456 }, extension: Some(Extension(\"\")), carrier: None })\n\
        Err(InvalidCountryCode)\n\
        Ok(PhoneNumber { code: Code { value: 49, source: Default }, national: NationalNumber { value: 30123456 }, extension: None, carrier: None })\n\
        Err(InvalidCountryCode)\n\
        Ok(PhoneNumber { code: Code { value: 49, source: Default }, national: NationalNumber { value: 30123456 }, extension: None, carrier: None })\n\
        Err(InvalidCountryCode)\n\
        Ok(PhoneNumber { code: Code { value: 49, source: Default }, national: NationalNumber { value: 30123456 }, extension: Some(Extension(\"12\")), carrier: None })\n\
        Err(InvalidCountryCode)\n\
        Ok(PhoneNumber { code: Code { value: 49, source: Default }, national: NationalNumber { value: 30123456 }, extension: Some(Extension(\"12\")), carrier: None })\n\
        Err(InvalidCountryCode)\n\
        Ok(PhoneNumber { code: Code { value: 49, source: Default }, national: NationalNumber { value: 30123456 }, extension: Some(Extension(\"12\")), carrier: None })\n\
        Err(InvalidCountryCode)\n\
        Err(NoNumber)\n\
        Err(NoNumber)\n\
        Err(NoNumber)\n\
        Err(NoNumber)\n\
        Ok(PhoneNumber { code: Code { value: 49, source: Default }, national: NationalNumber { value: 30123456 }, extension: None, carrier: None })\n\
        Err(InvalidCountryCode)\n\
        Ok(PhoneNumber { code: Code { value: 49, source: Default }, national: NationalNumber { value: 30123456 }, extension: None, carrier: None })\n\
        Err(InvalidCountryCode)\n\
        Ok(PhoneNumber { code: Code { value: 1, source: Plus }, national: NationalNumber { value: 6502530000 }, extension: Some(Extension(\"4567\")), carrier: None })\n\
        Ok(PhoneNumber { code: Code { value: 1, source: Plus }, national: NationalNumber { value: 6502530000 }, extension: Some(Extension(\"4567\")), carrier: None })\n\
        Ok(PhoneNumber { code: Code { value: 1, source: Plus }, national: NationalNumber { value: 6502530000 }, extension: Some(Extension(\"4567\")), carrier: None })\n\
        Ok(PhoneNumber { code: Code { value: 1, source: Plus }, national: NationalNumber { value: 6502530000 }, extension: Some(Extension(\"4567\")), carrier: None })\n\
        Ok(PhoneNumber { code: Code { value: 1, source: Plus }, national: NationalNumber { value: 6502530000 }, extension: Some(Extension(\"4567\")), carrier: None })\n\
        Ok(PhoneNumber { code: Code { value: 1, source: Plus }, national: NationalNumber { value: 6502530000 }, extension: Some(Extension(\"4567\")), carrier: None })\n\
        Ok(PhoneNumber { code: Code { value: 49, source: Plus }, national: NationalNumber { value: 30123456 }, extension: None, carrier: None })\n\
        Ok(PhoneNumber { code: Code { value: 49, source: Plus }, national: NationalNumber { value: 30123456 }, extension: None, carrier: None })\n\
        Ok(PhoneNumber { code: Code { value: 49, source: Plus }, national: NationalNumber { value: 30123456 }, extension: Some(Extension(\"7\")), carrier: None })\n\
        Ok(PhoneNumber { code: Code { value: 49, source: Plus }, national: NationalNumber { value: 30123456 }, extension: Some(Extension(\"7\")), carrier: None })\n\
        Err(NoNumber)\n\
        Err(NoNumber)\n\
        Ok(PhoneNumber { code: Code { value: 49, source: Plus }, national: NationalNumber { value: 30123456 }, extension: None, carrier: None })\n\
        Ok(PhoneNumber { code: Code { value: 49, source: Plus }, national: NationalNumber { value: 30123456 }, extension: None, carrier: None })\n\
        Err(NoNumber)\n\
        Err(NoNumber)\n\
        Ok(PhoneNumber { code: Code { value: 49, source: Idd }, national: NationalNumber { value: 30123456 }, extension: None, carrier: None })\n\
        Err(InvalidCountryCode)\n\
        Ok(PhoneNumber { code: Code { value: 49, source: Default }, national: NationalNumber { value: 8003569377 }, extension: None, carrier: None })\n\
        Err(InvalidCountryCode)\n\
        Ok(PhoneNumber { code: Code { value: 49, source: Default }, national: NationalNumber { value: 30123456 }, extension: Some(Extension(\"\")), carrier: None })\n\
        Err(InvalidCountryCode)\n\
        Ok(PhoneNumber { code: Code { value: 49, source: Default }, national: NationalNumber { value: 30123456 }, extension: None, carrier: None })\n\
        Err(InvalidCountryCode)\n\
        Ok(PhoneNumber { code: Code { value: 49, source: Default }, national: NationalNumber { value: 30123456 }, extension: None, carrier: None })\n\
        Err(InvalidCountryCode)\n\
        Err(NoNumber)\n\
        Err(NoNumber)\n\
        Err(NoNumber)\n\
        Err(NoNumber)\n\
    ";

    #[test]
    fn lists() {
        let l = parse_list("0171 1234567|+4930123456", Some(49)).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[1].e164(), "+4930123456");
        assert!(parse_list("0171 1234567|", Some(49)).is_err());
    }
}
