//! One integration test binary, one module per topic. Every test runs real
//! components built from `plugins/` (`cargo xtask plugins`) and the real
//! local model (`cargo xtask setup`).

mod fake_cloud;
mod stack;
mod support;

mod api;
mod audit;
mod dashboard;
mod documents;
mod hostile;
mod hot_swap;
mod lifecycle;
mod local;
mod pipeline;
mod polyglot;
mod privacy;
mod replay;
mod shadow;
mod telemetry;
