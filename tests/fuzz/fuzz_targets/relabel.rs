#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| picket_core::fuzz::relabel(data));
