use std::env;
use std::fs::File;
use std::io::BufReader;
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

    let out_dir = env::var("OUT_DIR").unwrap();

    // Each region's metadata serialized on its own, so that a process decodes only the
    // regions it uses, and its number formats apart: reading and validating a number
    // uses none of them (`metadata::Formats` decodes them when first asked for). They go
    // one after the other into `database.bin`; the index that finds them is Rust source
    // (`database_index.rs`), compiled into the library as plain arrays of numbers, so that
    // a process reads it without decoding anything and touches none of the data of the
    // regions it does not use (an index serialized with the data sits spread across all
    // of it, every region's entry between two others' metadata).
    let mut data = Vec::new();
    let mut append = |bytes: Vec<u8>| {
        let start = u32::try_from(data.len()).expect("metadata over 4 GiB");
        data.extend_from_slice(&bytes);
        (start, u32::try_from(bytes.len()).expect("a region over 4 GiB"))
    };
    let blobs: Vec<((u32, u32), (u32, u32))> = metadata
        .iter()
        .map(|meta| {
            let mut without_formats = meta.clone();
            let formats = (
                std::mem::take(&mut without_formats.formats),
                std::mem::take(&mut without_formats.international_formats),
            );
            (
                append(postcard::to_stdvec(&without_formats).expect("failed to serialize a region")),
                append(postcard::to_stdvec(&formats).expect("failed to serialize formats")),
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
    std::fs::write(Path::new(&out_dir).join("database.bin"), &data)
        .expect("could not write database file");

    // The index in the order that `metadata::database` searches (`metadata::index`): the
    // regions by id, and the calling codes with their regions' positions. `INDEX_IDS` holds
    // the ids one after the other; an entry names its id, metadata and formats by where
    // they start and end there and in `database.bin`.
    let (by_id, codes) = index::order(&regions);
    let mut ids = String::new();
    let mut index = String::new();
    for i in by_id {
        let id = regions[i].0;
        let start = ids.len();
        ids.push_str(id);
        let ((meta, meta_len), (formats, formats_len)) = blobs[i];
        index.push_str(&format!(
            "    IndexEntry {{ key: {:#x}, id: ({start}, {}), meta: ({meta}, {}), formats: ({formats}, {}) }},\n",
            index::sort_key(id).0,
            ids.len(),
            meta + meta_len,
            formats + formats_len,
        ));
    }
    let codes: String = codes
        .iter()
        .map(|(code, position)| format!("({code}, {position}), "))
        .collect();
    let source = format!(
        "// Written by build.rs from {pnm_path}.\n\
         const INDEX_IDS: &str = {ids:?};\n\
         static INDEX: &[IndexEntry] = &[\n{index}];\n\
         static INDEX_CODES: &[(u16, u16)] = &[{codes}];\n"
    );
    std::fs::write(Path::new(&out_dir).join("database_index.rs"), source)
        .expect("could not write database index");
}
