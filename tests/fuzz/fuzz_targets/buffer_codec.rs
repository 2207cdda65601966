#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| picket_forward::fuzz::buffer_codec(data));
