//! Every regular expression of the phone number metadata compiles. The built-in metadata
//! is loaded without checking its patterns (vendor/phonenumber, PATCHES.md): this is the
//! check, once in CI instead of in every process at its first number. A pattern that
//! does not compile fails here, not at a customer's first call to that country.

use phonenumber::metadata::{Descriptor, DATABASE};

#[test]
fn every_pattern_of_the_metadata_compiles() {
    let mut patterns: Vec<(String, &'static str, String)> = Vec::new();
    // By calling code (at most three digits): `DATABASE.iter()` goes by region and has
    // the non-geographic codes (all region "001") only once.
    for meta in (0..1000u16).flat_map(|c| DATABASE.by_code(&c).unwrap_or_default()) {
        let id = meta.id().to_string();
        let mut add = |what: &'static str, source: &str| {
            patterns.push((id.clone(), what, source.to_string()))
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
                add(what, desc.national_number().as_str());
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
                add(what, re.as_str());
            }
        }
        for format in meta.formats().iter().chain(meta.international_formats()) {
            add("numberFormat pattern", format.pattern().as_str());
            for re in format.leading_digits() {
                add("numberFormat leadingDigits", re.as_str());
            }
        }
    }
    // Every country has at least its general description; the metadata has ~250 regions.
    assert!(patterns.len() > 2000, "only {} patterns", patterns.len());
    // Many countries share patterns: each distinct one is compiled once.
    let mut seen = std::collections::HashSet::new();
    let mut bad = Vec::new();
    for (id, what, source) in patterns.iter().filter(|p| seen.insert(p.2.clone())) {
        // The options phonenumber compiles them with (vendor/phonenumber, database.rs).
        if let Err(e) = regex::RegexBuilder::new(source)
            .ignore_whitespace(true)
            .build()
        {
            bad.push(format!("{id} {what}: {e}"));
        }
    }
    assert!(
        bad.is_empty(),
        "patterns that do not compile:\n{}",
        bad.join("\n")
    );
}
