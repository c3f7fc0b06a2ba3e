// Copyright (C) 2017 1aim GmbH
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
// http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

use crate::error;
use crate::metadata::loader;
use crate::Metadata;
use crate::metadata::index;
use once_cell::sync::Lazy;
use std::borrow::Cow;
use std::fs::File;
use std::io::{BufReader, Cursor};
use std::path::Path;
use std::fmt;
use std::sync::OnceLock;

const DATABASE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/database.bin"));

/// A region of the built-in database, as `build.rs` lists it in `INDEX` (in search
/// order): its sort key (`index::sort_key`), and where its id starts and ends in
/// `INDEX_IDS`, its metadata and its number formats in `DATABASE`.
struct IndexEntry {
    key: u32,
    id: (u16, u16),
    meta: (u32, u32),
    formats: (u32, u32),
}

include!(concat!(env!("OUT_DIR"), "/database_index.rs"));

/// The Google provided metadata database, used as default.
///
/// Loading it reads an index of the regions (`build.rs`); a region's metadata is
/// decoded when it is first asked for, and its patterns are not compiled then (see
/// `Database::from_checked`): they come from libphonenumber's metadata, converted at
/// build time; each is compiled at its first use.
pub static DEFAULT: Lazy<Database> = Lazy::new(Database::builtin);

/// Representation of a database of metadata for phone number.
#[derive(Clone, Debug)]
pub struct Database {
    /// Every region, sorted by id (`index::sort_key`; regions sharing an id, as the
    /// non-geographic `001`, in load order: looking such an id up finds the last, as a
    /// map of ids did).
    entries: Vec<Entry>,
    /// `(calling code, position in entries)` of every region, sorted by code: a code's
    /// main region first, then its others in load order (`index::order`).
    codes: Vec<(u16, u16)>,
}

/// A region's metadata, converted when first asked for (the built-in database) or at
/// load (a database loaded from XML). Boxed: until it is decoded an entry is a few
/// words, not a whole `Metadata`.
#[derive(Clone)]
struct Entry {
    id: Cow<'static, str>,
    /// The number of `index::sort_key(id)`.
    key: u32,
    meta: OnceLock<Box<super::Metadata>>,
    /// The region's metadata as `build.rs` serialized it, without its number formats.
    serialized: &'static [u8],
    /// The region's number formats as `build.rs` serialized them, decoded on their own
    /// when first asked for (`metadata::Formats`).
    serialized_formats: &'static [u8],
}

impl Entry {
    fn get(&self) -> &super::Metadata {
        self.meta.get_or_init(|| {
            let meta = postcard::from_bytes(self.serialized).expect("built-in metadata");
            let mut meta = convert(meta, false).expect("built-in metadata");
            meta.formats = super::metadata::Formats::serialized(self.serialized_formats);
            Box::new(meta)
        })
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("id", &self.id)
            .field("meta", &self.meta)
            .finish()
    }
}

impl Database {
    /// Load a database from the given file.
    pub fn load<P: AsRef<Path>>(path: P) -> Result<Self, error::LoadMetadata> {
        Database::from(loader::load(BufReader::new(File::open(path)?))?)
    }

    /// Parse a database from the given string.
    pub fn parse<S: AsRef<str>>(content: S) -> Result<Self, error::LoadMetadata> {
        Database::from(loader::load(Cursor::new(content.as_ref()))?)
    }

    /// Create a database from a loaded database.
    pub fn from(meta: Vec<loader::Metadata>) -> Result<Self, error::LoadMetadata> {
        Database::from_checked(meta, true)
    }

    /// Create a database from a loaded database; `check`: compile every pattern now
    /// (`Pattern::check`, kept for its uses), so that a bad one is an error here.
    /// Without it, a bad pattern panics when it is first used. Checking is nearly all
    /// of the load's cost (every pattern of every country compiled, when a process
    /// uses the patterns of one or two countries), so the built-in database, whose
    /// patterns are known good, skips it.
    fn from_checked(meta: Vec<loader::Metadata>, check: bool) -> Result<Self, error::LoadMetadata> {
        let mut loaded = Vec::with_capacity(meta.len());
        for meta in meta {
            loaded.push(Some(Box::new(convert(meta, check)?)));
        }
        let regions: Vec<(&str, u16, bool)> = loaded
            .iter()
            .flatten()
            .map(|meta| {
                (
                    meta.id.as_str(),
                    meta.country_code,
                    meta.main_country_for_code,
                )
            })
            .collect();
        let (by_id, codes) = index::order(&regions);
        let entries = by_id
            .into_iter()
            .map(|i| {
                let meta = loaded[i].take().expect("each region once");
                Entry {
                    key: index::sort_key(&meta.id).0,
                    id: Cow::Owned(meta.id.clone()),
                    meta: OnceLock::from(meta),
                    serialized: &[],
                    serialized_formats: &[],
                }
            })
            .collect();
        Ok(Database { entries, codes })
    }

    /// The built-in database: the index of regions (in its order, written by
    /// `build.rs`), each region decoded at its first use.
    fn builtin() -> Self {
        let bytes = |(start, end): (u32, u32)| &DATABASE[start as usize..end as usize];
        let entries = INDEX
            .iter()
            .map(|entry| Entry {
                key: entry.key,
                id: Cow::Borrowed(&INDEX_IDS[usize::from(entry.id.0)..usize::from(entry.id.1)]),
                meta: OnceLock::new(),
                serialized: bytes(entry.meta),
                serialized_formats: bytes(entry.formats),
            })
            .collect();
        Database {
            entries,
            codes: INDEX_CODES.to_vec(),
        }
    }

    /// The entry of a region id: the last of the regions with that id.
    fn entry(&self, id: &str) -> Option<&Entry> {
        let key = index::sort_key(id);
        let end = self.entries.partition_point(|e| (e.key, &*e.id) <= key);
        end.checked_sub(1)
            .map(|last| &self.entries[last])
            .filter(|e| e.id == id)
    }

    /// The entries of a calling code's regions, its main region first.
    fn code_entries(&self, code: u16) -> impl Iterator<Item = &Entry> {
        let start = self.codes.partition_point(|&(c, _)| c < code);
        let end = start + self.codes[start..].partition_point(|&(c, _)| c == code);
        self.codes[start..end]
            .iter()
            .map(|&(_, position)| &self.entries[usize::from(position)])
    }

    /// Get a metadata entry by country ID.
    pub fn by_id<Q: ?Sized + AsRef<str>>(&self, key: &Q) -> Option<&super::Metadata> {
        self.entry(key.as_ref()).map(Entry::get)
    }

    /// Get metadata entries by country code.
    pub fn by_code(&self, key: &u16) -> Option<Vec<&super::Metadata>> {
        let list: Vec<_> = self.code_entries(*key).map(Entry::get).collect();
        (!list.is_empty()).then_some(list)
    }

    /// The main region's metadata for a country code (the first of `by_code`), without
    /// decoding the code's other regions.
    pub(crate) fn first_by_code(&self, code: u16) -> Option<&super::Metadata> {
        self.code_entries(code).next().map(Entry::get)
    }

    /// Get all country IDs corresponding to the given country code.
    pub fn region(&self, code: &u16) -> Option<Vec<&str>> {
        let list: Vec<&str> = self.code_entries(*code).map(|e| &*e.id).collect();
        (!list.is_empty()).then_some(list)
    }

    /// Iterator over all `Metadata` entries in this database: one per region id (of
    /// the regions sharing an id, the one `by_id` finds).
    pub fn iter(&self) -> impl Iterator<Item = &Metadata> {
        let next_ids = self
            .entries
            .iter()
            .skip(1)
            .map(|e| Some(&e.id))
            .chain([None]);
        self.entries
            .iter()
            .zip(next_ids)
            .filter(|(e, next)| *next != Some(&e.id))
            .map(|(e, _)| e.get())
    }
}

/// A region's number formats as `build.rs` serialized them (national, international),
/// converted: `metadata::Formats` calls it at their first use.
pub(crate) fn decode_formats(serialized: &[u8]) -> (Vec<super::Format>, Vec<super::Format>) {
    let (national, international): (Vec<loader::Format>, Vec<loader::Format>) =
        postcard::from_bytes(serialized).expect("built-in metadata");
    let convert = |formats: Vec<loader::Format>| -> Vec<super::Format> {
        formats
            .into_iter()
            .map(|f| convert_format(f, false).expect("built-in metadata"))
            .collect()
    };
    (convert(national), convert(international))
}

/// A pattern from its source; `check` as for `convert`.
fn pattern(value: String, check: bool) -> Result<super::Pattern, error::LoadMetadata> {
    checked(super::Pattern::new(value), check)
}

/// A number type's national number pattern, which a number matches in whole
/// (libphonenumber's `matchNationalNumber(number, desc, false)`: `Matcher.matches()`);
/// `check` as for `convert`.
fn whole(value: String, check: bool) -> Result<super::Pattern, error::LoadMetadata> {
    checked(super::Pattern::whole(value), check)
}

/// The pattern, compiled in every form now if `check`.
fn checked(pattern: super::Pattern, check: bool) -> Result<super::Pattern, error::LoadMetadata> {
    if check {
        pattern.check()?;
    }
    Ok(pattern)
}

/// The descriptors with the general description's possible lengths derived from its
/// types' as libphonenumber's metadata build derives them
/// (`BuildMetadataFromXml.setPossibleLengthsGeneralDesc`; the XML gives none for it):
/// every length of every type but `noInternationalDialling`, and the local-only lengths
/// that are not also a full length. A general description that gives lengths of its own
/// keeps them.
fn with_general_lengths(mut d: super::Descriptors) -> super::Descriptors {
    use std::collections::BTreeSet;
    if !d.general.possible_length.is_empty() || !d.general.possible_local_length.is_empty() {
        return d;
    }
    let excluded = d.no_international.as_ref();
    let (mut lengths, mut local) = (BTreeSet::new(), BTreeSet::new());
    for desc in d.iter().skip(1) {
        if !excluded.is_some_and(|x| std::ptr::eq(x, desc)) {
            lengths.extend(desc.possible_length.iter().copied());
            local.extend(desc.possible_local_length.iter().copied());
        }
    }
    d.general.possible_local_length = local.difference(&lengths).copied().collect();
    d.general.possible_length = lengths.into_iter().collect();
    d
}

/// A number format from its loaded form; `check` as for `convert`.
fn convert_format(
    format: loader::Format,
    check: bool,
) -> Result<super::Format, error::LoadMetadata> {
    let regex = |value: String| pattern(value, check);
    Ok(super::Format {
        pattern: format
            .pattern
            .ok_or_else(|| {
                error::LoadMetadata::from(error::Metadata::MissingValue {
                    phase: "format".into(),
                    name: "pattern".into(),
                })
            })
            .and_then(regex)?,

        format: format.format.ok_or_else(|| {
            error::LoadMetadata::from(error::Metadata::MissingValue {
                phase: "format".into(),
                name: "format".into(),
            })
        })?,

        leading_digits: format
            .leading_digits
            .into_iter()
            .map(&regex)
            .collect::<Result<_, _>>()?,

        national_prefix: format.national_prefix_formatting_rule,
        national_prefix_optional: format.national_prefix_optional_when_formatting,

        domestic_carrier: format.domestic_carrier,
    })
}

/// A region's metadata from its loaded form; `check`: compile every pattern now (see
/// `Database::from_checked`).
fn convert(meta: loader::Metadata, check: bool) -> Result<super::Metadata, error::LoadMetadata> {
        fn tranpose<T, E>(value: Option<Result<T, E>>) -> Result<Option<T>, E> {
            match value {
                None => Ok(None),

                Some(Ok(value)) => Ok(Some(value)),

                Some(Err(err)) => Err(err),
            }
        }

        let regex = |value: String| pattern(value, check);

        let descriptor =
            |desc: loader::Descriptor| -> Result<super::Descriptor, error::LoadMetadata> {
                desc.national_number.as_ref().unwrap();
                desc.national_number.as_ref().unwrap();

                Ok(super::Descriptor {
                    national_number: desc
                        .national_number
                        .ok_or_else(|| {
                            error::LoadMetadata::from(error::Metadata::MissingValue {
                                phase: "descriptor".into(),
                                name: "national_number".into(),
                            })
                        })
                        .and_then(|value| whole(value, check))?,

                    possible_length: desc.possible_length,
                    possible_local_length: desc.possible_local_length,
                    example: desc.example,
                })
            };

        let format = |format: loader::Format| convert_format(format, check);

        let metadata = |meta: loader::Metadata| -> Result<super::Metadata, error::LoadMetadata> {
            Ok(super::Metadata {
                descriptors: with_general_lengths(super::Descriptors {
                    general: descriptor(meta.general.ok_or_else(|| {
                        error::LoadMetadata::from(error::Metadata::MissingValue {
                            phase: "metadata".into(),
                            name: "generalDesc".into(),
                        })
                    })?)?,

                    fixed_line: tranpose(meta.fixed_line.map(descriptor))?,
                    mobile: tranpose(meta.mobile.map(descriptor))?,
                    toll_free: tranpose(meta.toll_free.map(descriptor))?,
                    premium_rate: tranpose(meta.premium_rate.map(descriptor))?,
                    shared_cost: tranpose(meta.shared_cost.map(descriptor))?,
                    personal_number: tranpose(meta.personal_number.map(descriptor))?,
                    voip: tranpose(meta.voip.map(descriptor))?,
                    pager: tranpose(meta.pager.map(descriptor))?,
                    uan: tranpose(meta.uan.map(descriptor))?,
                    emergency: tranpose(meta.emergency.map(descriptor))?,
                    voicemail: tranpose(meta.voicemail.map(descriptor))?,
                    short_code: tranpose(meta.short_code.map(descriptor))?,
                    standard_rate: tranpose(meta.standard_rate.map(descriptor))?,
                    carrier: tranpose(meta.carrier.map(descriptor))?,
                    no_international: tranpose(meta.no_international.map(descriptor))?,
                }),

                id: meta.id.ok_or_else(|| {
                    error::LoadMetadata::from(error::Metadata::MissingValue {
                        phase: "metadata".into(),
                        name: "id".into(),
                    })
                })?,

                country_code: meta.country_code.ok_or_else(|| {
                    error::LoadMetadata::from(error::Metadata::MissingValue {
                        phase: "metadata".into(),
                        name: "countryCode".into(),
                    })
                })?,

                international_prefix: tranpose(meta.international_prefix.map(regex))?,
                preferred_international_prefix: meta.preferred_international_prefix,
                national_prefix: meta.national_prefix,
                preferred_extension_prefix: meta.preferred_extension_prefix,
                national_prefix_for_parsing: tranpose(meta.national_prefix_for_parsing.map(regex))?,
                national_prefix_transform_rule: meta.national_prefix_transform_rule,

                formats: super::metadata::Formats::decoded(
                    meta.formats
                        .into_iter()
                        .map(&format)
                        .collect::<Result<_, _>>()?,
                    meta.international_formats
                        .into_iter()
                        .map(&format)
                        .collect::<Result<_, _>>()?,
                ),

                main_country_for_code: meta.main_country_for_code,
                leading_digits: tranpose(meta.leading_digits.map(regex))?,
                mobile_number_portable: meta.mobile_number_portable,
            })
        };

        metadata(meta)
}
