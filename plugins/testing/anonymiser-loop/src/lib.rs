//! Hostile anonymiser: never returns. The host must interrupt it at its
//! deadline and fail closed.
wit_bindgen::generate!({ path: "../../../wit", world: "anonymiser" });

use exports::sluice::policy::detection::Guest;
use sluice::policy::types::Span;

struct Hostile;

impl Guest for Hostile {
    fn detect(_text: String, _lang: String) -> Vec<Span> {
        let mut n = 0u64;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

export!(Hostile);
