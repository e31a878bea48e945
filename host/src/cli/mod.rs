//! The command line's subcommands, one file each.

pub mod audit;
pub mod local;
pub mod plugins;
pub mod run;
