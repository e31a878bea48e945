//! `sluice plugins …`: load a plugin file as the host would.

use std::process::ExitCode;

use sluice::plugins::contract::{Candidate, RouteContext, World};
use sluice::plugins::{CallSettings, HostConfig, PluginEngine, loader};

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
    let settings = CallSettings::default();
    let started = std::time::Instant::now();
    let outcome = match plugin.world {
        World::Router => plugin
            .route(&RouteContext::example(), &settings)
            .map(|d| format!("{:?} {:?}", d.route, d.reasons)),
        World::Anonymiser => plugin
            .detect(
                "Contacto: ana.gomez@example.co, C.C. 1.020.304.050",
                "es",
                &settings,
            )
            .map(|spans| format!("{} spans: {spans:?}", spans.len())),
        World::Merger => {
            let local = Candidate {
                json: r#"{"document_type":"supply agreement"}"#.into(),
                confidence: 0.8,
            };
            let cloud = Candidate {
                json: r#"{"document_type":"Supply Agreement"}"#.into(),
                confidence: 0.9,
            };
            let schema = r#"{"type":"object","properties":{"document_type":{"type":"string"}}}"#;
            plugin.merge(&local, &cloud, schema, &settings).map(|d| {
                format!(
                    "{:?} agreement {:.2} {:?}",
                    d.choice, d.agreement, d.reasons
                )
            })
        }
    };
    let took = started.elapsed().as_secs_f64() * 1e3;
    match outcome {
        Ok(answer) => {
            println!("smoke:     ok in {took:.2} ms: {answer}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("smoke:     failed in {took:.2} ms: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
