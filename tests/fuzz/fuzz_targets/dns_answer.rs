#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| picket_hub::fuzz::dns_answer(data));
