//! Not a fuzz target: writes the seed corpora (`tobira_fuzz::seeds`) into
//! `fuzz/corpus/<target>/` at start-up and exits. Run with
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none seed_corpus`.
#![no_main]
#![allow(unreachable_code)]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        tobira_fuzz::seeds::write_all();
        std::process::exit(0);
    },
    |_data: &[u8]| {}
);
