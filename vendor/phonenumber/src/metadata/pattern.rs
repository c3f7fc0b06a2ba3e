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
use std::sync::atomic::{AtomicU32, Ordering};
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
/// Validation asks only whether a text matches from its beginning
/// ([`Pattern::matches_anchored`]): from its beginning to its end for a pattern made by
/// [`Pattern::whole`], as libphonenumber's `Matcher.matches()` asks of a number type's
/// national number pattern; from its beginning for the others (`lookingAt()`, leading
/// digits). It is answered in one of two forms:
/// - first, for the pattern's first [`QUICK_USES`] uses, a `regex_lite` matcher,
///   `^(?:pattern)` (`^(?:pattern)$` for a whole pattern; the same `java.util.regex` reading: `\d` is ASCII there too):
///   about a fifth of the instructions to build, a few thousand more per match (its
///   Pike VM runs every thread of the automaton over each digit);
/// - then the regex engine's lazy DFA, built without capture groups, prefilters,
///   one-pass DFA or backtracker, and run as an anchored search.
///
/// A process that reads a number or two pays for the cheap form only; one that reads
/// many moves each pattern it keeps using to the fast one. [`Pattern::check`] and
/// [`Pattern::prepare`] build the fast form at once, as a process that warms up before
/// forking wants.
///
/// The regex (`Deref` to [`regex::Regex`]), for searches, captures and replacement, is
/// compiled on its first use.
#[derive(Debug)]
pub struct Pattern {
    source: String,
    regex: OnceLock<Regex>,
    quick: OnceLock<regex_lite::Regex>,
    start: OnceLock<meta::Regex>,
    uses: AtomicU32,
    whole: bool,
}

/// How many times a pattern is matched with its quick form before its fast form is
/// built. Building the fast form of a German fixed-line pattern costs about as much as
/// 200 matches' difference between the two; 16 keeps a long-running process's extra
/// cost small and moves every pattern a placement reads to the fast form within its
/// first 16 placements.
pub const QUICK_USES: u32 = 16;

impl Clone for Pattern {
    fn clone(&self) -> Pattern {
        Pattern {
            source: self.source.clone(),
            regex: self.regex.clone(),
            quick: self.quick.clone(),
            start: self.start.clone(),
            uses: AtomicU32::new(self.uses.load(Ordering::Relaxed)),
            whole: self.whole,
        }
    }
}

impl Pattern {
    /// A pattern from its source, compiled when first used: a bad pattern panics
    /// then (see [`Pattern::check`]).
    pub fn new(source: impl Into<String>) -> Pattern {
        Pattern {
            source: source.into(),
            regex: OnceLock::new(),
            quick: OnceLock::new(),
            start: OnceLock::new(),
            uses: AtomicU32::new(0),
            whole: false,
        }
    }

    /// A pattern a text must match in whole (libphonenumber's `Matcher.matches()`), as
    /// a number type's national number pattern: [`Pattern::matches_anchored`] then asks
    /// for a match from the text's beginning to its end.
    pub fn whole(source: impl Into<String>) -> Pattern {
        Pattern {
            whole: true,
            ..Pattern::new(source)
        }
    }

    /// Whether the pattern is matched in whole ([`Pattern::whole`]).
    pub fn is_whole(&self) -> bool {
        self.whole
    }

    /// The pattern's source text.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Compiles every form now (if not yet), returning the error of a bad pattern.
    pub fn check(&self) -> Result<(), regex::Error> {
        if self.regex.get().is_none() {
            let _ = self.regex.set(self.build_regex()?);
        }
        if self.quick.get().is_none() {
            let _ = self.quick.set(self.build_quick()?);
        }
        self.prepare()
    }

    /// Builds the fast form of the anchored matcher now (if not yet): from then on
    /// [`Pattern::matches_anchored`] uses it, and the quick form is never built.
    pub fn prepare(&self) -> Result<(), regex::Error> {
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

    /// Whether a match of the pattern starts at the beginning of `value` (the same as
    /// `self.find(value).map(|m| m.start() == 0).unwrap_or(false)`: the leftmost match
    /// starts at 0 exactly when some match does), without finding the match's end or a
    /// match further on; for a pattern made by [`Pattern::whole`], whether one spans the
    /// whole of `value` (`^(?:pattern)$`).
    pub fn matches_anchored(&self, value: &str) -> bool {
        if let Some(start) = self.start.get() {
            return start.is_match(Input::new(value).anchored(Anchored::Yes));
        }
        if self.uses.fetch_add(1, Ordering::Relaxed) >= QUICK_USES {
            return self.matches_anchored_fast(value);
        }
        self.matches_anchored_quick(value)
    }

    /// The end of the match that starts at the beginning of `value`, if one does: the
    /// same as `self.find(value).filter(|m| m.start() == 0).map(|m| m.end())` (what
    /// libphonenumber asks with `Matcher.lookingAt()` and `end()`), each engine reading
    /// leftmost-first. The first [`QUICK_USES`] uses of a pattern not yet compiled as a
    /// regex are answered by the quick form (see [`Pattern::matches_anchored`]), the
    /// others by the regex. Not for a whole pattern (its quick form ends at the text's
    /// end).
    pub fn match_start_end(&self, value: &str) -> Option<usize> {
        debug_assert!(!self.whole, "match_start_end of a whole pattern");
        if self.regex.get().is_none() && self.uses.fetch_add(1, Ordering::Relaxed) < QUICK_USES {
            return self.match_start_end_quick(value);
        }
        self.match_start_end_regex(value)
    }

    /// [`Pattern::match_start_end`] by the quick form, built if not yet.
    pub fn match_start_end_quick(&self, value: &str) -> Option<usize> {
        self.quick().find(value).map(|m| m.end())
    }

    /// [`Pattern::match_start_end`] by the regex, compiled if not yet.
    pub fn match_start_end_regex(&self, value: &str) -> Option<usize> {
        self.regex()
            .find(value)
            .filter(|m| m.start() == 0)
            .map(|m| m.end())
    }

    /// Which forms of the anchored matcher are built: (quick, fast).
    pub fn start_forms(&self) -> (bool, bool) {
        (self.quick.get().is_some(), self.start.get().is_some())
    }

    /// [`Pattern::matches_anchored`] by the quick form, built if not yet.
    pub fn matches_anchored_quick(&self, value: &str) -> bool {
        self.quick().is_match(value)
    }

    /// The quick form, built if not yet.
    fn quick(&self) -> &regex_lite::Regex {
        self.quick.get_or_init(|| {
            self.build_quick()
                .unwrap_or_else(|e| panic!("metadata pattern {:?}: {}", self.source, e))
        })
    }

    /// [`Pattern::matches_anchored`] by the fast form, built if not yet.
    pub fn matches_anchored_fast(&self, value: &str) -> bool {
        self.start
            .get_or_init(|| {
                self.build_start()
                    .unwrap_or_else(|e| panic!("metadata pattern {:?}: {}", self.source, e))
            })
            .is_match(Input::new(value).anchored(Anchored::Yes))
    }

    /// Whether the pattern is compiled in free-spacing mode (whitespace ignored, `#` to
    /// the end of a line a comment), as every pattern was: only a source with whitespace
    /// or a `#` reads differently in it, and the built-in metadata has neither (the
    /// loader removes its whitespace, as libphonenumber's build does), so its patterns
    /// are parsed without looking for either at every character.
    fn free_spacing(&self) -> bool {
        // The engines' free-spacing mode skips what `char::is_whitespace` accepts (in
        // ASCII, `is_ascii_whitespace` and vertical tab).
        if self.source.is_ascii() {
            return self
                .source
                .bytes()
                .any(|b| b == b'#' || b == b'\x0B' || b.is_ascii_whitespace());
        }
        self.source.chars().any(|c| c == '#' || c.is_whitespace())
    }

    fn build_regex(&self) -> Result<Regex, regex::Error> {
        RegexBuilder::new(&self.source)
            .ignore_whitespace(self.free_spacing())
            .unicode(false)
            .build()
    }

    /// The source between `before` and `after`, for the anchored forms: in free-spacing
    /// mode `after` starts a line of its own, so that a comment at the source's end
    /// (`#` to the end of the line) does not take it in.
    fn wrapped(&self, before: &str, after: &str) -> String {
        let end = if self.free_spacing() { "\n" } else { "" };
        format!("{before}{}{end}{after}", self.source)
    }

    fn build_quick(&self) -> Result<regex_lite::Regex, regex::Error> {
        let after = if self.whole { ")$" } else { ")" };
        regex_lite::RegexBuilder::new(&self.wrapped("^(?:", after))
            .ignore_whitespace(self.free_spacing())
            .build()
            .map_err(|e| regex::Error::Syntax(e.to_string()))
    }

    fn build_start(&self) -> Result<meta::Regex, regex::Error> {
        meta::Builder::new()
            .syntax(
                syntax::Config::new()
                    .ignore_whitespace(self.free_spacing())
                    .unicode(false),
            )
            .configure(
                meta::Config::new()
                    .which_captures(WhichCaptures::None)
                    .auto_prefilter(false)
                    .onepass(false)
                    .backtrack(false),
            )
            .build(&if self.whole {
                self.wrapped("(?:", ")$")
            } else {
                self.source.clone()
            })
            .map_err(|e| regex::Error::Syntax(e.to_string()))
    }
}

impl Deref for Pattern {
    type Target = Regex;

    fn deref(&self) -> &Regex {
        self.regex()
    }
}
