#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| picket::fuzz::agent_config(data));
