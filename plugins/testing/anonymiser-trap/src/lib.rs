//! Hostile anonymiser: traps on every call. The host must fail closed.
wit_bindgen::generate!({ path: "../../../wit", world: "anonymiser" });

use exports::sluice::policy::detection::Guest;
use sluice::policy::types::Span;

struct Hostile;

impl Guest for Hostile {
    fn detect(_text: String, _lang: String) -> Vec<Span> {
        std::process::abort()
    }
}

export!(Hostile);
