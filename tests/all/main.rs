//! One integration test binary, one module per topic. Every test runs real
//! components built from `plugins/` (`cargo xtask plugins`).

mod support;

mod hostile;
mod hot_swap;
mod lifecycle;
mod polyglot;
