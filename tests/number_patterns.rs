//! Every regular expression of the phone number metadata compiles. The built-in metadata
//! is loaded without checking its patterns (vendor/phonenumber, PATCHES.md): this is the
//! check, once in CI instead of in every process at its first number. A pattern that
//! does not compile fails here, not at a customer's first call to that country.
//!
//! Each pattern is compiled by `Pattern::check`, which builds every form the library
//! uses (the regex, and the start matcher's quick and fast forms), in the same functions
//! as a first use does.

use phonenumber::metadata::{Descriptor, Pattern, DATABASE, QUICK_USES};

#[test]
fn every_pattern_of_the_metadata_compiles() {
    let mut patterns: Vec<(String, &'static str, &Pattern)> = Vec::new();
    // By calling code (at most three digits): `DATABASE.iter()` goes by region and has
    // the non-geographic codes (all region "001") only once.
    for meta in (0..1000u16).flat_map(|c| DATABASE.by_code(&c).unwrap_or_default()) {
        let id = meta.id().to_string();
        let mut add = |what: &'static str, pattern: &'static Pattern| {
            patterns.push((id.clone(), what, pattern))
        };
        let d = meta.descriptors();
        let descriptors: [(&'static str, Option<&Descriptor>); 16] = [
            ("generalDesc", Some(d.general())),
            ("fixedLine", d.fixed_line()),
            ("mobile", d.mobile()),
            ("tollFree", d.toll_free()),
            ("premiumRate", d.premium_rate()),
            ("sharedCost", d.shared_cost()),
            ("personalNumber", d.personal_number()),
            ("voip", d.voip()),
            ("pager", d.pager()),
            ("uan", d.uan()),
            ("emergency", d.emergency()),
            ("voicemail", d.voicemail()),
            ("shortCode", d.short_code()),
            ("standardRate", d.standard_rate()),
            ("carrierSpecific", d.carrier()),
            ("noInternationalDialling", d.no_international()),
        ];
        for (what, desc) in descriptors {
            if let Some(desc) = desc {
                add(what, desc.national_number());
            }
        }
        for (what, re) in [
            ("internationalPrefix", meta.international_prefix()),
            (
                "nationalPrefixForParsing",
                meta.national_prefix_for_parsing(),
            ),
            ("leadingDigits", meta.leading_digits()),
        ] {
            if let Some(re) = re {
                add(what, re);
            }
        }
        for format in meta.formats().iter().chain(meta.international_formats()) {
            add("numberFormat pattern", format.pattern());
            for re in format.leading_digits() {
                add("numberFormat leadingDigits", re);
            }
        }
    }
    // Every country has at least its general description; the metadata has ~250 regions.
    assert!(patterns.len() > 2000, "only {} patterns", patterns.len());
    // Many countries share patterns: each distinct one is compiled once.
    let mut seen = std::collections::HashSet::new();
    let mut bad = Vec::new();
    for (id, what, pattern) in patterns.iter().filter(|p| seen.insert(p.2.as_str())) {
        if let Err(e) = pattern.check() {
            bad.push(format!("{id} {what}: {e}"));
        }
    }
    assert!(
        bad.is_empty(),
        "patterns that do not compile:\n{}",
        bad.join("\n")
    );
}

/// A start matcher answers with its quick form for a pattern's first `QUICK_USES` uses,
/// then builds its fast form and answers with that; `prepare` builds the fast form at
/// once, and the quick one is then never built.
#[test]
fn a_pattern_moves_to_its_fast_form_after_its_first_uses() {
    let p = Pattern::new(r"1\d{3}|2[0-4]\d");
    assert_eq!(p.start_forms(), (false, false));
    for used in 1..=QUICK_USES {
        assert!(p.matches_anchored("1234"));
        assert!(!p.matches_anchored("255"));
        let quick_uses = 2 * used;
        let expected = (true, quick_uses > QUICK_USES);
        assert_eq!(p.start_forms(), expected, "after {quick_uses} uses");
    }
    assert_eq!(p.start_forms(), (true, true));
    assert!(p.matches_anchored("2409") && !p.matches_anchored("3000"));

    let prepared = Pattern::new(r"1\d{3}");
    prepared.prepare().unwrap();
    assert_eq!(prepared.start_forms(), (false, true));
    for _ in 0..=QUICK_USES {
        assert!(prepared.matches_anchored("1000") && !prepared.matches_anchored("999"));
    }
    assert_eq!(prepared.start_forms(), (false, true));
}

/// The texts a country's patterns are tried on here: the example number of each of its
/// number types, and variants of each that are near misses (a digit fewer or more,
/// another first or last digit, the national prefix or an international one in front).
fn candidates(meta: &phonenumber::Metadata) -> Vec<String> {
    let examples: Vec<&str> = meta
        .descriptors()
        .iter()
        .filter_map(|desc| desc.example())
        .collect();
    let bump = |c: char| char::from(b'0' + (c as u8 - b'0' + 1) % 10);
    let mut out = Vec::new();
    for e in examples {
        if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let (first, last) = (e.chars().next().unwrap(), e.chars().last().unwrap());
        out.push(e.to_string());
        out.push(e[..e.len() - 1].to_string());
        out.push(format!("{e}0"));
        out.push(format!("{e}9"));
        out.push(format!("{}{}", bump(first), &e[1..]));
        out.push(format!("{}{}", &e[..e.len() - 1], bump(last)));
        out.push(e.chars().take(3).collect());
        for prefix in [
            meta.national_prefix(),
            meta.preferred_international_prefix(),
            Some("00"),
            Some("011"),
        ]
        .into_iter()
        .flatten()
        {
            out.push(format!("{prefix}{e}"));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The vendored phonenumber compiles the metadata's patterns in ASCII mode (`\d` is
/// `[0-9]`, as in libphonenumber's Java) and answers "does a match start here" with an
/// anchored matcher; before, it compiled them in Unicode mode and searched for the
/// leftmost match. On the digit strings it matches them against, both must give the
/// same answers, spans and replacements: checked here for every pattern of every
/// country on its example numbers and their near misses.
#[test]
fn compiled_patterns_read_numbers_as_before() {
    let unicode = |p: &Pattern| {
        regex::RegexBuilder::new(p.as_str())
            .ignore_whitespace(true)
            .build()
            .unwrap()
    };
    // Java's `matches()`: the pattern from the text's start to its end.
    let whole = |p: &Pattern| {
        regex::RegexBuilder::new(&format!("^(?:{})$", p.as_str()))
            .ignore_whitespace(true)
            .build()
            .unwrap()
    };
    let mut compared = 0usize;
    let mut starts = 0usize;
    let mut differ = Vec::new();
    for meta in (0..1000u16).flat_map(|c| DATABASE.by_code(&c).unwrap_or_default()) {
        let texts = candidates(meta);
        let descriptors: Vec<&Descriptor> = meta.descriptors().iter().collect();
        // Validation: a match starting at the text's start, and the descriptor's check
        // (possible lengths, then that).
        let formats = || meta.formats().iter().chain(meta.international_formats());
        let starters: Vec<&Pattern> = descriptors
            .iter()
            .map(|desc| desc.national_number())
            .chain(meta.leading_digits())
            .chain(formats().flat_map(|f| f.leading_digits()))
            .collect();
        for pattern in starters {
            let old = unicode(pattern);
            for t in &texts {
                // A number type's pattern must match the whole number (Java's
                // `Matcher.matches()`), the others a beginning (`lookingAt()`).
                let before = if pattern.is_whole() {
                    whole(pattern).is_match(t)
                } else {
                    old.find(t).map(|m| m.start() == 0).unwrap_or(false)
                };
                starts += usize::from(before);
                compared += 1;
                // Both forms of the start matcher (vendor/phonenumber: the quick one for a
                // pattern's first uses, then the fast one), and the one in use.
                let forms = [
                    ("quick", pattern.matches_anchored_quick(t)),
                    ("fast", pattern.matches_anchored_fast(t)),
                    ("in use", pattern.matches_anchored(t)),
                ];
                for (form, answer) in forms {
                    if answer != before {
                        differ.push(format!(
                            "{} {:?} ({form}) on {t}",
                            meta.id(),
                            pattern.as_str()
                        ));
                    }
                }
            }
        }
        for desc in &descriptors {
            assert!(desc.national_number().is_whole(), "{}", meta.id());
            let old = whole(desc.national_number());
            for t in &texts {
                let lengths = desc.possible_length();
                let before =
                    (lengths.is_empty() || lengths.contains(&(t.len() as u16))) && old.is_match(t);
                if desc.is_match(t) != before {
                    differ.push(format!(
                        "{} descriptor {:?} on {t}",
                        meta.id(),
                        desc.national_number().as_str()
                    ));
                }
            }
        }
        // Searches, captures and replacements: the formats, the international prefix and
        // the national prefix for parsing.
        let searched: Vec<(&Pattern, Option<&str>)> = formats()
            .map(|f| (f.pattern(), Some(f.format())))
            .chain(meta.international_prefix().map(|p| (p, None)))
            .chain(
                meta.national_prefix_for_parsing()
                    .map(|p| (p, meta.national_prefix_transform_rule())),
            )
            .collect();
        for (pattern, replacement) in searched {
            let old = unicode(pattern);
            for t in &texts {
                compared += 1;
                // The end of a match at the text's start (how the international prefix is
                // read: libphonenumber's `lookingAt()`), by each form.
                let before = old.find(t).filter(|m| m.start() == 0).map(|m| m.end());
                let forms = [
                    ("quick", pattern.match_start_end_quick(t)),
                    ("regex", pattern.match_start_end_regex(t)),
                    ("in use", pattern.match_start_end(t)),
                ];
                for (form, end) in forms {
                    if end != before {
                        differ.push(format!(
                            "{} {:?} match end ({form}) on {t}: {end:?}, was {before:?}",
                            meta.id(),
                            pattern.as_str()
                        ));
                    }
                }
                let span = |c: Option<regex::Captures>| {
                    c.map(|c| c.iter().map(|m| m.map(|m| m.range())).collect::<Vec<_>>())
                };
                if span(pattern.captures(t)) != span(old.captures(t)) {
                    differ.push(format!(
                        "{} captures {:?} on {t}",
                        meta.id(),
                        pattern.as_str()
                    ));
                }
                if let Some(r) = replacement {
                    if pattern.replace(t, r) != old.replace(t, r) {
                        differ.push(format!(
                            "{} replace {:?} on {t}",
                            meta.id(),
                            pattern.as_str()
                        ));
                    }
                }
            }
        }
    }
    // Enough texts that match, and enough that do not, for the comparison to mean
    // something.
    assert!(compared > 50_000, "only {compared} comparisons");
    assert!(
        starts > 5_000 && compared - starts > 5_000,
        "{starts} of {compared} match"
    );
    assert!(
        differ.is_empty(),
        "{} differences:\n{}",
        differ.len(),
        differ.join("\n")
    );
}

/// The extension pattern as the crate wrote it before (`consts::EXTN_PATTERNS_FOR_PARSING`,
/// libphonenumber's `createExtnPattern(true)`), compiled with `case_insensitive(true)`.
/// The vendored crate spells each letter's case variants out instead (the regex crate's
/// Unicode case tables are left out of the build, PATCHES.md).
const EXTN_BEFORE: &str = r";ext=(\p{Nd}{0,7})|[ \x{00A0}\t,]*(?:e?xt(?:ensi(?:o\x{0301}?|\x{00F3}))?n?|\x{FF45}?\x{FF58}\x{FF54}\x{FF4E}?|[,;x\x{FF58}#\x{FF03}~\x{FF5E}]|int|anexo|\x{FF49}\x{FF4E}\x{FF54})[:\.\x{FF0E}]?[ \x{00A0}\t,-]*(\p{Nd}{0,7})#?|[- ]+(\p{Nd}{1,5})#";

/// Each letter of `EXTN_BEFORE` and what it matched case-insensitively: regex-syntax's
/// simple case folding (Unicode's CaseFolding.txt, statuses C and S), as
/// `ParserBuilder::case_insensitive(true)` printed it for each letter with the
/// `unicode-case` tables. `s` matches LONG S; neither dotless nor dotted capital I
/// matches `i`.
const CASE_ORBITS: [&str; 14] = [
    "eE",
    "xX",
    "tT",
    "nN",
    "sS\u{17F}",
    "iI",
    "oO",
    "aA",
    "\u{F3}\u{D3}",
    "\u{FF45}\u{FF25}",
    "\u{FF58}\u{FF38}",
    "\u{FF54}\u{FF34}",
    "\u{FF4E}\u{FF2E}",
    "\u{FF49}\u{FF29}",
];

/// What a case-insensitive match sees: each character folded to the first of its orbit.
fn fold(text: &str) -> String {
    text.chars()
        .map(|c| {
            CASE_ORBITS
                .iter()
                .find(|o| o.contains(c))
                .map_or(c, |o| o.chars().next().unwrap())
        })
        .collect()
}

/// Every way of writing an extension the parser knows, with its letters in every mix of
/// cases and with each letter replaced by a look-alike or another letter, reads as it did
/// with `case_insensitive(true)`: when `EXTN_BEFORE` matches the folded text from the
/// word on, the extension is its second group (as `parser::natural` takes it); when it
/// does not match at all, there is no extension. (When it matches only the end of the
/// word, the letters left in front are read by the parser's other rules: left out.)
#[test]
fn extensions_read_in_every_case_as_before() {
    let before = regex::Regex::new(&format!("(?:{EXTN_BEFORE})$")).unwrap();
    let words = [
        "ext",
        "xt",
        "extn",
        "xtn",
        "extension",
        "extensio\u{301}n",
        "extensi\u{F3}n",
        "extensio",
        "ext.",
        "ext:",
        "\u{FF45}\u{FF58}\u{FF54}\u{FF4E}",
        "\u{FF58}\u{FF54}",
        "\u{FF49}\u{FF4E}\u{FF54}",
        "int",
        "anexo",
        "x",
        "\u{FF58}",
        ";",
        ",",
        "#",
        "~",
        ";ext=",
    ];
    // Replacements for one letter: every letter of every orbit, and look-alikes outside
    // them (dotless i, capital I with dot, Kelvin sign, e with accents, other wide forms).
    let mut others: Vec<char> = CASE_ORBITS.iter().flat_map(|o| o.chars()).collect();
    others.extend([
        '\u{131}', '\u{130}', '\u{212A}', '\u{E9}', '\u{117}', '\u{FF53}', 'q', 'O',
    ]);
    let mut texts = Vec::new();
    for word in words {
        // Every mix of cases.
        let mut variants = vec![String::new()];
        for c in word.chars() {
            let orbit: Vec<char> = CASE_ORBITS
                .iter()
                .find(|o| o.contains(c))
                .map_or(vec![c], |o| o.chars().collect());
            variants = variants
                .iter()
                .flat_map(|v| orbit.iter().map(move |o| format!("{v}{o}")))
                .collect();
        }
        // Each letter replaced.
        let chars: Vec<char> = word.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            if c.is_alphabetic() {
                for o in &others {
                    let mut w = chars.clone();
                    w[i] = *o;
                    variants.push(w.into_iter().collect());
                }
            }
        }
        // The text, and where the word starts in it.
        for v in variants {
            texts.push((format!("+49 30 12345678 {v}89"), 16));
            texts.push((format!("+49 30 12345678{v} 89"), 15));
        }
    }
    let (mut with_extension, mut without, mut left_out) = (0, 0, 0);
    for (text, word) in &texts {
        let parsed = phonenumber::parse(None, text);
        let folded = fold(text);
        let captures = before.captures(&folded);
        let from_the_word = captures
            .as_ref()
            .is_some_and(|c| c.get(0).unwrap().start() <= *word);
        if captures.is_some() && !from_the_word {
            left_out += 1;
            continue;
        }
        match captures {
            Some(c) if c.get(2).is_some() => {
                let want = c.get(2).unwrap().as_str();
                let got = parsed
                    .as_ref()
                    .ok()
                    .and_then(|n| n.extension())
                    .map(|e| e.to_string());
                assert_eq!(got.as_deref(), Some(want), "{text:?}");
                with_extension += 1;
            }
            Some(_) => assert!(parsed.is_err(), "{text:?}: {parsed:?}"),
            None => {
                let got = parsed.as_ref().ok().and_then(|n| n.extension());
                assert!(got.is_none(), "{text:?}: extension {got:?}");
                without += 1;
            }
        }
    }
    // Every outcome was met, many times each.
    assert!(
        with_extension > 1500 && without > 1000,
        "{with_extension} with / {without} without / {left_out} left out"
    );
}

/// A number is valid when its country's general description and any one of its number
/// types match it: the vendored crate asks the types in the order that compiles the
/// fewest patterns for the numbers a callback dials (mobile, fixed line, then the others;
/// PATCHES.md), where libphonenumber's Java asks them in the order that picks the type
/// (premium rate first, mobile last). The answer must be the same: `is_valid` against the
/// crate's type in Java's order, for every country's example numbers of every type and
/// their near misses, written in full.
#[test]
fn validity_is_the_type_being_known() {
    let (mut valid, mut invalid) = (0usize, 0usize);
    let mut differ = Vec::new();
    for meta in (0..1000u16).flat_map(|c| DATABASE.by_code(&c).unwrap_or_default()) {
        for t in candidates(meta) {
            let text = format!("+{}{t}", meta.country_code());
            let Ok(number) = phonenumber::parse(None, &text) else {
                continue;
            };
            // `PhoneNumber::number_type` finds the region from the national number
            // without its leading zeros, `is_valid` with them: compared where they agree.
            if number.national().to_string() != number.national().value().to_string() {
                continue;
            }
            let typed = number.number_type(&DATABASE) != phonenumber::Type::Unknown;
            if typed {
                valid += 1;
            } else {
                invalid += 1;
            }
            if number.is_valid() != typed {
                differ.push(format!("{} {text}: type known {typed}", meta.id()));
            }
        }
    }
    assert!(
        valid > 2_000 && invalid > 2_000,
        "{valid} valid, {invalid} not"
    );
    assert!(
        differ.is_empty(),
        "{} differences:\n{}",
        differ.len(),
        differ.join("\n")
    );
}

/// On the numbers the test above tries, no type of the built-in metadata matches outside
/// the general description, so it cannot tell whether validity still asks the general
/// description first.
/// A country whose fixed-line pattern is wider than its general one can: libphonenumber
/// calls a number outside the general description `UNKNOWN`, whatever its type says.
#[test]
fn a_number_outside_the_general_description_is_not_valid() {
    let db = phonenumber::metadata::Database::parse(
        r#"<phoneNumberMetadata><territories>
        <territory id="DE" countryCode="49" internationalPrefix="00" nationalPrefix="0">
          <generalDesc><nationalNumberPattern>[2-9]\d{5}</nationalNumberPattern></generalDesc>
          <fixedLine><possibleLengths national="6"/><nationalNumberPattern>\d{6}</nationalNumberPattern></fixedLine>
          <mobile><possibleLengths national="6"/><nationalNumberPattern>9\d{5}</nationalNumberPattern></mobile>
        </territory>
        </territories></phoneNumberMetadata>"#,
    )
    .unwrap();
    let read = |text: &str| phonenumber::parse_with(&db, None, text).unwrap();
    let inside = read("+49 234567");
    assert_eq!(inside.number_type(&db), phonenumber::Type::FixedLine);
    assert!(phonenumber::is_valid_with(&db, &inside));
    let mobile = read("+49 934567");
    assert_eq!(
        mobile.number_type(&db),
        phonenumber::Type::FixedLineOrMobile
    );
    assert!(phonenumber::is_valid_with(&db, &mobile));
    let outside = read("+49 134567");
    assert_eq!(outside.number_type(&db), phonenumber::Type::Unknown);
    assert!(!phonenumber::is_valid_with(&db, &outside));
}

/// The metadata as libphonenumber ships it (vendor/phonenumber/assets).
fn metadata_xml() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/vendor/phonenumber/assets/PhoneNumberMetadata.xml"
    );
    std::fs::read_to_string(path).unwrap()
}

/// The built-in database's index (written in its search order at build time,
/// vendor/phonenumber `metadata::index`) and a database loaded from the XML at run time
/// (put in that order then) both find every region as the metadata lists it: a region by
/// its id (of the regions sharing an id, the last, as the map of ids before did), a
/// calling code's regions with its main region first and its others in the file's order.
#[test]
fn the_index_finds_every_region_as_the_metadata_lists_it() {
    use phonenumber::metadata::{loader, Database};
    let xml = metadata_xml();
    let regions = loader::load(std::io::Cursor::new(xml.as_bytes())).unwrap();
    let loaded = Database::parse(&xml).unwrap();
    let mut by_code: std::collections::BTreeMap<u16, Vec<&str>> = Default::default();
    let mut by_id: std::collections::BTreeMap<&str, u16> = Default::default();
    for r in &regions {
        let (id, code) = (r.id.as_deref().unwrap(), r.country_code.unwrap());
        let list = by_code.entry(code).or_default();
        if r.main_country_for_code {
            list.insert(0, id);
        } else {
            list.push(id);
        }
        by_id.insert(id, code);
    }
    assert!(
        by_code.len() > 200 && by_id.len() > 240,
        "too few regions read"
    );
    assert!(
        by_code[&1].len() > 20 && by_code[&1][0] == "US",
        "{:?}",
        by_code[&1]
    );
    // Several non-geographic codes share the id 001.
    assert!(
        regions
            .iter()
            .filter(|r| r.id.as_deref() == Some("001"))
            .count()
            > 5
    );
    for db in [&*DATABASE, &loaded] {
        for code in 0..1000u16 {
            let expected = by_code.get(&code);
            assert_eq!(db.region(&code).as_ref(), expected, "regions of {code}");
            let metas: Option<Vec<(&str, u16)>> = db
                .by_code(&code)
                .map(|list| list.iter().map(|m| (m.id(), m.country_code())).collect());
            let expected_metas: Option<Vec<(&str, u16)>> =
                expected.map(|ids| ids.iter().map(|&id| (id, code)).collect());
            assert_eq!(metas, expected_metas, "metadata of {code}");
        }
        for (&id, &code) in &by_id {
            let meta = db.by_id(id).unwrap_or_else(|| panic!("no region {id}"));
            assert_eq!((meta.id(), meta.country_code()), (id, code));
        }
        // The number formats (the built-in database keeps them apart and decodes them at
        // their first use) as the loader read them, national and international.
        let shown = |formats: &[phonenumber::metadata::Format]| -> Vec<String> {
            formats
                .iter()
                .map(|f| {
                    let digits: Vec<&str> = f.leading_digits().iter().map(|p| p.as_str()).collect();
                    format!(
                        "{} {} {digits:?} {:?} {} {:?}",
                        f.pattern().as_str(),
                        f.format(),
                        f.national_prefix(),
                        f.is_national_prefix_optional(),
                        f.domestic_carrier()
                    )
                })
                .collect()
        };
        let mut with_formats = 0;
        for r in regions.iter().filter(|r| r.id.as_deref() != Some("001")) {
            let meta = db.by_id(r.id.as_deref().unwrap()).unwrap();
            let read = loaded.by_id(r.id.as_deref().unwrap()).unwrap();
            assert_eq!(shown(meta.formats()), shown(read.formats()), "{:?}", r.id);
            assert_eq!(
                shown(meta.international_formats()),
                shown(read.international_formats()),
                "{:?}",
                r.id
            );
            assert_eq!(meta.formats().len(), r.formats.len(), "{:?}", r.id);
            with_formats += usize::from(!meta.international_formats().is_empty());
        }
        assert!(
            with_formats > 10,
            "{with_formats} regions with international formats"
        );
        for missing in ["", "00", "0011", "D", "DEU", "XX", "ZZZ", "de"] {
            assert!(db.by_id(missing).is_none(), "{missing:?} found");
        }
        let mut ids: Vec<&str> = db.iter().map(|m| m.id()).collect();
        ids.sort();
        assert_eq!(ids, by_id.keys().copied().collect::<Vec<_>>());
    }
}

/// The metadata lays its long patterns out over lines; the loader removes that
/// whitespace, as libphonenumber's build does (vendor/phonenumber `loader`), so a pattern
/// compiles without free-spacing mode and the library carries less text. Every number
/// type's pattern of the built-in metadata is the XML's, whitespace removed, and nothing
/// else changed: compared here as multisets, read from the XML with a regex of its own.
#[test]
fn patterns_are_the_metadata_without_its_whitespace() {
    let xml = metadata_xml();
    let element =
        regex::Regex::new(r"(?s)<nationalNumberPattern>(.*?)</nationalNumberPattern>").unwrap();
    let mut from_xml: Vec<String> = element
        .captures_iter(&xml)
        .map(|c| c[1].chars().filter(|c| !c.is_whitespace()).collect())
        .collect();
    let with_space = element
        .captures_iter(&xml)
        .filter(|c| c[1].contains(char::is_whitespace))
        .count();
    assert!(with_space > 500, "only {with_space} patterns laid out");
    let mut built: Vec<String> = Vec::new();
    for meta in (0..1000u16).flat_map(|c| DATABASE.by_code(&c).unwrap_or_default()) {
        for desc in meta.descriptors().iter() {
            built.push(desc.national_number().as_str().to_string());
        }
    }
    assert!(built
        .iter()
        .all(|p| !p.contains(|c: char| c.is_whitespace() || c == '#')));
    from_xml.sort();
    built.sort();
    assert_eq!(from_xml.len(), built.len());
    assert!(from_xml == built, "the patterns differ");
}
