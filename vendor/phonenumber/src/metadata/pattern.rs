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

use regex::{Regex, RegexBuilder};
use regex_automata::{meta, nfa::thompson::WhichCaptures, util::syntax, Anchored, Input};
use std::ops::Deref;
use std::sync::OnceLock;

/// A regular expression of the metadata, compiled at its first use and kept with
/// the metadata entry that holds it (no cache look-up per use).
///
/// The metadata's patterns are written for `java.util.regex`, where `\d` is
/// `[0-9]`: they are compiled without Unicode mode, so `\d` is the ten ASCII
/// digits rather than every Unicode decimal digit. The crate matches them only
/// against normalized numbers (`parser::helper::normalize` turns every digit into
/// its ASCII form and drops what is not a digit), on which both readings agree;
/// the ASCII one compiles to a far smaller automaton (a bounded repetition such as
/// `\d{6,10}` of the Unicode class is several times larger).
///
/// Two forms, each compiled on first use:
/// - the regex (`Deref` to [`regex::Regex`]): searches, captures, replacement;
/// - the start matcher ([`Pattern::matches_start`]): whether a match starts at the
///   beginning of a text, all validation needs; built without capture groups,
///   prefilters, one-pass DFA or backtracker, and run as an anchored search on the
///   lazy DFA.
#[derive(Clone, Debug)]
pub struct Pattern {
    source: String,
    regex: OnceLock<Regex>,
    start: OnceLock<meta::Regex>,
}

impl Pattern {
    /// A pattern from its source, compiled when first used: a bad pattern panics
    /// then (see [`Pattern::check`]).
    pub fn new(source: impl Into<String>) -> Pattern {
        Pattern {
            source: source.into(),
            regex: OnceLock::new(),
            start: OnceLock::new(),
        }
    }

    /// The pattern's source text.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Compiles both forms now (if not yet), returning the error of a bad pattern.
    pub fn check(&self) -> Result<(), regex::Error> {
        if self.regex.get().is_none() {
            let _ = self.regex.set(self.build_regex()?);
        }
        if self.start.get().is_none() {
            let _ = self.start.set(self.build_start()?);
        }
        Ok(())
    }

    /// The compiled regex.
    pub fn regex(&self) -> &Regex {
        self.regex.get_or_init(|| {
            self.build_regex()
                .unwrap_or_else(|e| panic!("metadata pattern {:?}: {}", self.source, e))
        })
    }

    /// Whether a match of the pattern starts at the beginning of `value`: the same
    /// as `self.find(value).map(|m| m.start() == 0).unwrap_or(false)` (the leftmost
    /// match starts at 0 exactly when some match does), without finding the match's
    /// end or a match further on.
    pub fn matches_start(&self, value: &str) -> bool {
        self.start
            .get_or_init(|| {
                self.build_start()
                    .unwrap_or_else(|e| panic!("metadata pattern {:?}: {}", self.source, e))
            })
            .is_match(Input::new(value).anchored(Anchored::Yes))
    }

    fn build_regex(&self) -> Result<Regex, regex::Error> {
        RegexBuilder::new(&self.source)
            .ignore_whitespace(true)
            .unicode(false)
            .build()
    }

    fn build_start(&self) -> Result<meta::Regex, regex::Error> {
        meta::Builder::new()
            .syntax(
                syntax::Config::new()
                    .ignore_whitespace(true)
                    .unicode(false),
            )
            .configure(
                meta::Config::new()
                    .which_captures(WhichCaptures::None)
                    .auto_prefilter(false)
                    .onepass(false)
                    .backtrack(false),
            )
            .build(&self.source)
            .map_err(|e| regex::Error::Syntax(e.to_string()))
    }
}

impl Deref for Pattern {
    type Target = Regex;

    fn deref(&self) -> &Regex {
        self.regex()
    }
}
