//! `sluice plugins …`: load a plugin file as the host would.

use std::process::ExitCode;

use sluice::documents::Extraction;
use sluice::plugins::contract::World;
use sluice::plugins::{CallSettings, HostConfig, PluginEngine, check, loader};

pub fn check_plugin(file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let engine = PluginEngine::new(HostConfig::default())?;
    let plugin = match loader::load_file(&engine, file) {
        Ok(plugin) => plugin,
        Err(e) => {
            let stage = e
                .stage()
                .map(|s| s.to_string())
                .unwrap_or_else(|| "load".into());
            println!("{}: rejected at the {stage} stage: {e}", file.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    println!("file:      {}", file.display());
    println!("world:     {}", plugin.world);
    println!("contract:  sluice:policy@{}", plugin.contract_version);
    if let Some(why) = &plugin.deprecated {
        println!("deprecated: {why}");
    }
    println!("sha256:    {}", plugin.sha256);
    println!(
        "compile:   {:.1} ms{}",
        plugin.compile_time.as_secs_f64() * 1e3,
        if plugin.from_cache {
            " (from the artifact cache)"
        } else {
            ""
        }
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // An extractor is checked under the limits documents are read under.
    let settings = match plugin.world {
        World::Extractor => Extraction::defaults(),
        _ => CallSettings::default(),
    };
    let check = runtime.block_on(check::check(&plugin, &settings));
    let first = &check.first;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    if let Err(e) = &first.outcome {
        println!(
            "smoke:     first call failed in {:.2} ms (allowed {:?}): {e}",
            ms(first.took),
            first.deadline
        );
        return Ok(ExitCode::FAILURE);
    }
    println!("first:     ok in {:.2} ms", ms(first.took));
    let Some(timed) = &check.timed else {
        return Ok(ExitCode::FAILURE);
    };
    match &timed.outcome {
        Ok(answer) => {
            println!("smoke:     ok in {:.2} ms: {answer}", ms(timed.took));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("smoke:     failed in {:.2} ms: {e}", ms(timed.took));
            Ok(ExitCode::FAILURE)
        }
    }
}
