//! libFuzzer entry point; the work is in `src/lib.rs` so it is unit-tested on stable too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    airflow_connector_fuzz::run(data);
});
