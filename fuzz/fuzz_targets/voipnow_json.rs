#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| callconnect::fuzzing::voipnow_json(data));
