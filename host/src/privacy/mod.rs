//! Privacy: what leaves the machine is pseudonymised, and what comes back is
//! re-identified.
//!
//! - [`placeholder`]: typed placeholders (`[PERSON_1]`) and their shape.
//! - [`vault`]: one request's mapping between values and placeholders, in
//!   memory only, wiped when the request ends.
//! - [`anonymise`]: text and JSON through the anonymiser plugin, the host's
//!   credential scan and the schema's `"x-sluice-pii"` marks; a detector
//!   that fails refuses ([`Refusal`]) rather than letting raw text through.
//! - [`secrets`]: credentials (key and token formats, passwords, random
//!   tokens after a credential word), masked as `[SECRET_N]` and not
//!   restored unless the policy says so.
//! - [`restore`]: re-identification of text, JSON and streams, where a
//!   placeholder may be split across chunks.
//! - [`outbound`]: the one way text reaches the cloud: pseudonymised, sent,
//!   the answer re-identified (whole or streamed).
//!
//! ```
//! use sluice::privacy::{Vault, restore::restore_text};
//! use sluice::plugins::contract::PiiKind;
//! let mut vault = Vault::new();
//! let p = vault.pseudonymise(PiiKind::Person, "Ana Gómez");
//! assert_eq!(p, "[PERSON_1]");
//! assert_eq!(restore_text(&vault, "Dear [PERSON_1],").text, "Dear Ana Gómez,");
//! ```

pub mod anonymise;
pub mod outbound;
pub mod placeholder;
pub mod restore;
pub mod secrets;
pub mod vault;

pub use anonymise::{Anonymiser, Refusal};
pub use restore::{RestoreCounts, Restored, StreamRestorer};
pub use vault::Vault;
