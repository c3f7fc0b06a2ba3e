use std::env;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

#[path = "src/metadata/loader.rs"]
mod loader;

#[path = "src/error.rs"]
mod error;

#[path = "src/metadata/index.rs"]
mod index;

fn main() {
    let pnm_path = "assets/PhoneNumberMetadata.xml";
    let metadata = loader::load(BufReader::new(
        File::open(pnm_path).expect("could not open metadata file"),
    ))
    .expect("failed to load metadata");
    println!("cargo:rerun-if-changed={pnm_path}");

    let mut out = BufWriter::new(
        File::create(Path::new(&env::var("OUT_DIR").unwrap()).join("database.bin"))
            .expect("could not create database file"),
    );

    // An index of the regions, each with its metadata serialized on its own, so that a
    // process decodes only the regions it uses, and the index in the order that
    // `metadata::database` searches (`metadata::index`): the regions by id, and the
    // calling codes with their regions' positions.
    // A region's number formats on their own: reading and validating a number uses
    // none of them (`metadata::Formats` decodes them when first asked for).
    let blobs: Vec<(Vec<u8>, Vec<u8>)> = metadata
        .iter()
        .map(|meta| {
            let mut without_formats = meta.clone();
            let formats = (
                std::mem::take(&mut without_formats.formats),
                std::mem::take(&mut without_formats.international_formats),
            );
            (
                postcard::to_stdvec(&without_formats).expect("failed to serialize a region"),
                postcard::to_stdvec(&formats).expect("failed to serialize formats"),
            )
        })
        .collect();
    let regions: Vec<(&str, u16, bool)> = metadata
        .iter()
        .map(|meta| {
            (
                meta.id.as_deref().expect("a region without id"),
                meta.country_code.expect("a region without countryCode"),
                meta.main_country_for_code,
            )
        })
        .collect();
    let (by_id, codes) = index::order(&regions);
    let by_id: Vec<(&str, Bytes<'_>, Bytes<'_>)> = by_id
        .into_iter()
        .map(|i| (regions[i].0, Bytes(&blobs[i].0), Bytes(&blobs[i].1)))
        .collect();
    postcard::to_io(&(by_id, codes), &mut out).expect("failed to serialize database");
}

/// Serialized as bytes, so that the library borrows them from the built-in data.
struct Bytes<'a>(&'a [u8]);

impl serde::Serialize for Bytes<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}
