use std::env;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

#[path = "src/metadata/loader.rs"]
mod loader;

#[path = "src/error.rs"]
mod error;

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
    // process decodes only the regions it uses (`metadata::database`).
    let blobs: Vec<Vec<u8>> = metadata
        .iter()
        .map(|meta| postcard::to_stdvec(meta).expect("failed to serialize a region"))
        .collect();
    let index: Vec<(&str, u16, bool, Bytes<'_>)> = metadata
        .iter()
        .zip(&blobs)
        .map(|(meta, blob)| {
            (
                meta.id.as_deref().expect("a region without id"),
                meta.country_code.expect("a region without countryCode"),
                meta.main_country_for_code,
                Bytes(blob),
            )
        })
        .collect();
    postcard::to_io(&index, &mut out).expect("failed to serialize database");
}

/// Serialized as bytes, so that the library borrows them from the built-in data.
struct Bytes<'a>(&'a [u8]);

impl serde::Serialize for Bytes<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}
