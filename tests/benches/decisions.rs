//! `cargo xtask bench decisions [--rounds N]`: what watching decisions
//! costs a request. The same short messages go, round by round in rotating
//! order, through three triage-escalate policies on the real model and the
//! shipped router: one plain, one with a shadow router beside the active
//! one, one that records its router's inputs for replay
//! (`[audit] record_inputs`). Reports the host's own time per request
//! (total minus the model's: policy, router, anonymiser, audit, and the
//! shadow's or the recording's share of them), median and p99 per policy
//! and the difference from the plain policy's, and the shadow call's own
//! latency (off the request's path, from its `shadow` records).

#[path = "../all/fake_cloud.rs"]
#[allow(dead_code)]
mod fake_cloud;
#[path = "common/percentile.rs"]
mod percentile;
#[path = "../all/stack.rs"]
#[allow(dead_code)]
mod stack;
#[path = "../all/support.rs"]
#[allow(dead_code)]
mod support;

use percentile::percentile;
use serde_json::Value;

const MESSAGES: &[&str] = &[
    "Buenos días, soy Carlos Andrés Restrepo y necesito que revisen mi contrato de arrendamiento.",
    "Quiero pagar la factura de noviembre; mi cédula es 1.020.345.678.",
    "Can I book an appointment with a lawyer next Tuesday? This is Maria Ospina.",
    "Gostaria de reclamar do atendimento que recebi ontem na agência de Medellín.",
    "Por favor envíenme una copia de mis datos personales a ana.gomez@example.com.",
    "Tengo dudas sobre una cláusula de mi contrato con Andina Soluciones S.A.S.",
];

const POLICIES: [&str; 3] = ["plain", "shadowed", "recorded"];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .map_or(60, |n| n.parse().expect("--rounds N"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(rounds));
}

async fn run(rounds: usize) {
    let plain = format!(
        "{}[router.config]\nmin_confidence = 0.0\n",
        stack::routed_by("complexity-router")
    );
    let shadowed = format!(
        "{plain}[shadow.router]\nplugin = \"complexity-router\"\n[shadow.router.config]\nmin_confidence = 0.0\nescalate_tags = [\"hard\", \"litigation\", \"review\"]\n"
    );
    let recorded = format!("{plain}[audit]\nrecord_inputs = true\n");
    let ws = stack::Workspace::with_policies(&[
        ("plain".into(), plain),
        ("shadowed".into(), shadowed),
        ("recorded".into(), recorded),
    ]);
    let local = stack::model();
    let setup = stack::pipeline(&ws, &local, None);
    let pipeline = &setup.pipeline;

    let mut host: [Vec<f64>; 3] = Default::default();
    // Round 0 warms every policy's plugins and the model; not counted.
    for round in 0..=rounds {
        let text = MESSAGES[round % MESSAGES.len()];
        for k in 0..POLICIES.len() {
            let which = (round + k) % POLICIES.len();
            let policy = POLICIES[which];
            let outcome = pipeline
                .run(stack::request(
                    &format!("{policy}-{round}"),
                    policy,
                    text,
                    &[],
                ))
                .await
                .unwrap();
            let latency = |stage: &str| outcome.latency_ms.get(stage).copied().unwrap_or(0.0);
            if round > 0 {
                host[which].push(latency("total") - latency("local") - latency("cloud"));
            }
        }
        if round % 10 == 0 {
            eprintln!("round {round}/{rounds}");
        }
    }
    // Let the last shadow calls land in the log.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    pipeline.audit.close().unwrap();
    let mut shadow_calls: Vec<f64> = std::fs::read_to_string(ws.audit())
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["kind"] == "shadow")
        .filter_map(|r| r["latency_ms"]["shadow"].as_f64())
        .collect();
    shadow_calls.sort_by(f64::total_cmp);

    println!(
        "host time per request (total minus the model), {rounds} requests per policy, same run:"
    );
    println!("| policy | median ms | p99 ms | median − plain's |");
    println!("|---|---|---|---|");
    for times in &mut host {
        times.sort_by(f64::total_cmp);
    }
    let plain_median = percentile(&host[0], 0.5);
    for (policy, times) in POLICIES.iter().zip(&host) {
        println!(
            "| {policy} | {:.3} | {:.3} | {:+.3} |",
            percentile(times, 0.5),
            percentile(times, 0.99),
            percentile(times, 0.5) - plain_median
        );
    }
    if !shadow_calls.is_empty() {
        println!(
            "the shadow router's own call, off the request's path ({} calls): median {:.3} ms, p99 {:.3} ms",
            shadow_calls.len(),
            percentile(&shadow_calls, 0.5),
            percentile(&shadow_calls, 0.99)
        );
    }
}
