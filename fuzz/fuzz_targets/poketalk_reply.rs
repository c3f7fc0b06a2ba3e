#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| callconnect::fuzzing::poketalk_reply(data));
