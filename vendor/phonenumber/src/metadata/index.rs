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

//! The order of a database's index: shared by `build.rs`, which writes the built-in
//! database's index in it, and `database`, which puts a database loaded at run time in
//! it, so that looking a region up is a binary search and building the index allocates
//! nothing per region.

/// The key regions are sorted and searched by: the id's first four bytes as a number
/// (zeros after a shorter id), then the whole id. An id is two letters or three digits,
/// so a search compares numbers and looks at a string only at the end.
pub fn sort_key(id: &str) -> (u32, &str) {
    let mut head = [0u8; 4];
    let n = id.len().min(4);
    head[..n].copy_from_slice(&id.as_bytes()[..n]);
    (u32::from_be_bytes(head), id)
}

/// For regions given as `(id, calling code, main country for its code)` in load order:
/// the regions' load positions sorted by id (`sort_key`; regions sharing an id, as the
/// non-geographic `001`, in load order), and for every region, sorted by calling code (a
/// code's main region first, then its others in load order), the pair
/// `(calling code, the region's position in the sorted-by-id order)`.
pub fn order(regions: &[(&str, u16, bool)]) -> (Vec<usize>, Vec<(u16, u16)>) {
    let mut by_id: Vec<usize> = (0..regions.len()).collect();
    // Stable: a shared id keeps its regions in load order.
    by_id.sort_by_key(|&i| sort_key(regions[i].0));
    let mut position = vec![0u16; regions.len()];
    for (sorted, &i) in by_id.iter().enumerate() {
        position[i] = u16::try_from(sorted).expect("more than 65,535 regions");
    }
    let mut codes: Vec<(u16, bool, usize)> = regions
        .iter()
        .enumerate()
        .map(|(i, &(_, code, main))| (code, !main, i))
        .collect();
    codes.sort_unstable();
    let codes = codes
        .into_iter()
        .map(|(code, _, i)| (code, position[i]))
        .collect();
    (by_id, codes)
}
