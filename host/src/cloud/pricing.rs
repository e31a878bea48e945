//! Token usage to US dollars, from a price table in the configuration:
//!
//! ```toml
//! [cloud.prices."gpt-5.4"]
//! input_usd_per_mtok = 2.5
//! output_usd_per_mtok = 15.0
//! ```
//!
//! A model with no price costs nothing as far as sluice can tell: budgets
//! cannot bind for it, and a warning at start says so.

use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input_usd_per_mtok: f64,
    pub output_usd_per_mtok: f64,
}

/// Prices by model name.
pub type Prices = BTreeMap<String, Price>;

/// The cost of one call; `None` when the model has no price.
pub fn cost(
    prices: &Prices,
    model: &str,
    prompt_tokens: u64,
    completion_tokens: u64,
) -> Option<f64> {
    let price = prices.get(model)?;
    Some(
        (prompt_tokens as f64 * price.input_usd_per_mtok
            + completion_tokens as f64 * price.output_usd_per_mtok)
            / 1e6,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_to_dollars() {
        let prices: Prices =
            toml::from_str("[\"gpt-5.4\"]\ninput_usd_per_mtok = 2.5\noutput_usd_per_mtok = 15.0")
                .unwrap();
        let usd = cost(&prices, "gpt-5.4", 1_000_000, 100_000).unwrap();
        assert!((usd - 4.0).abs() < 1e-9, "{usd}");
        assert_eq!(cost(&prices, "other", 10, 10), None);
    }
}
