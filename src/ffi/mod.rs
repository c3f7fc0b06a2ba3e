//! The C ABI. Every exported function is a safe `pub extern "C" fn` whose body runs
//! inside the panic boundary (`util::ffi_boundary!`); pointers are read and written
//! only through the helpers of [`util`]; handles are registry ids ([`handles`]), never
//! pointers to Rust objects. Split by area: [`types`] (the C enums, structs and
//! constants), [`client`], [`call`], [`account`], [`events`], [`log`], [`names`] and
//! [`library`] (last error, strings, handle counts).
// The C names (`cc_result`, `CC_OK`) are the ABI's.
#![allow(non_camel_case_types)]

// The order of the modules is the order of the header (cbindgen reads them so).
pub mod types;

pub mod client;

pub mod call;

pub mod library;

pub mod names;

pub mod account;
pub mod events;
pub mod handles;
pub mod log;
pub mod util;

pub use account::*;
pub use call::*;
pub use client::*;
pub use events::*;
pub use library::*;
pub use log::*;
pub use names::*;
pub use types::*;
