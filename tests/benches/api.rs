//! `cargo xtask bench api`: what sluice adds in front of a cloud. The
//! shipped `cloud` policy (pii-detector on every request, three audit
//! records, the answer re-identified) over real sockets, against calling the
//! fake cloud directly, at a fixed open-loop rate; then rising rates, to
//! find the highest whose p99 stays under 10 ms. Latency is measured from
//! each request's scheduled send time, so a stalled server cannot hide its
//! queue (no coordinated omission).
//!
//! Streaming, before the rising rates can leave a backlog, one request at a
//! time, the two paths alternating: the
//! time to the first content byte through sluice against the fake cloud
//! streaming directly, and against the local model's own first token
//! (`LocalRuntime::submit_streaming` on the same dialogue); and, on a
//! PII-dense answer streamed in 8-character chunks, what sluice adds per
//! chunk (re-identification held back across chunks included).
//!
//! Arguments: `--rate R` (default 500), `--seconds S` per round (default 3),
//! `--streams N` per path (default 60).

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
use std::time::{Duration, Instant};

use serde_json::json;
use sluice::api::{self, Api, Keys, ServerSettings};

const KEY: &str = "sk-bench";
const SENTENCE: &str = "La señora Marta Lucía Pérez, identificada con C.C. 52.123.456, pide copia del contrato 2024-118 a marta.perez@example.co.";

struct Run {
    p50: f64,
    p99: f64,
    sent: usize,
    failed: usize,
}

/// A JSON POST, with the key when there is one.
fn post(
    client: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    body: &str,
) -> reqwest::RequestBuilder {
    let request = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string());
    match key {
        Some(key) => request.header("authorization", format!("Bearer {key}")),
        None => request,
    }
}

/// Send `rate` requests a second for `seconds`, open loop; latencies in ms.
async fn drive(
    client: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    body: &str,
    rate: f64,
    seconds: f64,
) -> Run {
    let total = (rate * seconds) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let due = start + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let request = post(client, url, key, body);
        tasks.push(tokio::spawn(async move {
            let ok = match request.send().await {
                Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
                Err(_) => false,
            };
            (due.elapsed().as_secs_f64() * 1e3, ok)
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    let mut failed = 0;
    for task in tasks {
        let (ms, ok) = task.await.unwrap();
        latencies.push(ms);
        failed += usize::from(!ok);
    }
    latencies.sort_by(f64::total_cmp);
    Run {
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        sent: total,
        failed,
    }
}

/// The median of one figure over rounds.
fn median(runs: &[Run], figure: fn(&Run) -> f64) -> f64 {
    median_of(runs.iter().map(figure).collect())
}

/// Milliseconds to the first content byte of a chat SSE answer, and to its
/// end.
async fn first_content(
    client: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    body: &str,
) -> (f64, f64) {
    let started = Instant::now();
    let request = post(client, url, key, body);
    let mut response = request.send().await.expect("a response");
    assert!(response.status().is_success(), "{}", response.status());
    let mut first = None;
    let mut seen = String::new();
    while let Some(bytes) = response.chunk().await.expect("the stream") {
        seen.push_str(&String::from_utf8_lossy(&bytes));
        if first.is_none() {
            let has_text = seen
                .split("\"content\":\"")
                .skip(1)
                .any(|rest| !rest.starts_with('"'));
            if has_text {
                first = Some(started.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    let end = started.elapsed().as_secs_f64() * 1e3;
    (first.unwrap_or(end), end)
}

fn median_of(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// Rounds per path at the fixed rate.
const ROUNDS: usize = 7;

fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a number"))
        })
}

fn main() {
    let rate = arg("--rate", 500.0);
    let seconds = arg("--seconds", 3.0);
    let streams = arg("--streams", 60.0) as usize;
    // The server on its own runtime, as in `sluice serve`; the load on another.
    let server_rt = tokio::runtime::Runtime::new().unwrap();
    let ws = stack::Workspace::new(&[]);
    let local = stack::model();
    let model = local.clone();
    let (fake, url, _stack) = server_rt.block_on(async {
        let fake = fake_cloud::FakeCloud::start().await;
        let stack = stack::pipeline(&ws, &local, Some(stack::cloud_config(&fake)));
        let keys = Keys::new(&[], &[], &[KEY.into()], &[]).unwrap();
        let settings = ServerSettings {
            max_concurrent: 1024,
            ..ServerSettings::default()
        };
        let api = Api::new(stack.pipeline.clone(), settings, keys);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/v1/chat/completions",
            listener.local_addr().unwrap()
        );
        tokio::spawn(api::serve(listener, api, std::future::pending()));
        (fake, url, stack)
    });
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let direct_url = format!("{}/chat/completions", fake.url);
    let via = json!({"model": "sluice/cloud", "messages": [{"role": "user", "content": SENTENCE}]})
        .to_string();
    let direct = json!({"model": "fake", "messages": [
        {"role": "system", "content": "Answer the request."},
        {"role": "user", "content": SENTENCE}]})
    .to_string();
    client_rt.block_on(async {
        // Warm both paths (connections, the detector's compiled code).
        drive(&client, &direct_url, None, &direct, 100.0, 1.0).await;
        drive(&client, &url, Some(KEY), &via, 100.0, 1.0).await;
        // The machine is shared: a stall elsewhere can spoil one round's
        // p99, so rounds alternate between the paths and each figure is the
        // median over rounds.
        println!(
            "{rate} requests/s, {ROUNDS} rounds of {seconds} s per path, alternating; latency from the scheduled send time (ms), medians over rounds:"
        );
        let mut direct_runs = Vec::new();
        let mut sluice_runs = Vec::new();
        for _ in 0..ROUNDS {
            direct_runs.push(drive(&client, &direct_url, None, &direct, rate, seconds).await);
            sluice_runs.push(drive(&client, &url, Some(KEY), &via, rate, seconds).await);
        }
        let failed: usize = sluice_runs.iter().chain(&direct_runs).map(|r| r.failed).sum();
        let (d50, d99) = (median(&direct_runs, |r| r.p50), median(&direct_runs, |r| r.p99));
        let (s50, s99) = (median(&sluice_runs, |r| r.p50), median(&sluice_runs, |r| r.p99));
        let spread = |runs: &[Run]| {
            let p99: Vec<f64> = runs.iter().map(|r| r.p99).collect();
            let min = p99.iter().copied().fold(f64::INFINITY, f64::min);
            let max = p99.iter().copied().fold(0.0, f64::max);
            format!("(p99 over rounds {min:.2}..{max:.2})")
        };
        println!("  fake cloud directly   p50 {d50:7.3}  p99 {d99:7.3}  {}", spread(&direct_runs));
        println!("  through sluice        p50 {s50:7.3}  p99 {s99:7.3}  {}", spread(&sluice_runs));
        println!(
            "  added by sluice       p50 {:7.3}  p99 {:7.3}   (failed requests: {failed})",
            s50 - d50,
            s99 - d99
        );

        println!("streaming, {streams} requests per path, one at a time, alternating (ms, medians):");
        let streamed = |body: serde_json::Value| body.to_string();
        let via_cloud = streamed(json!({"model": "sluice/cloud", "stream": true,
            "messages": [{"role": "user", "content": SENTENCE}]}));
        let direct_cloud = streamed(json!({"model": "fake", "stream": true,
            "messages": [{"role": "user", "content": SENTENCE}]}));
        let (mut through, mut directly, mut through_end, mut directly_end) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..streams {
            let (first, end) = first_content(&client, &direct_url, None, &direct_cloud).await;
            directly.push(first);
            directly_end.push(end);
            let (first, end) = first_content(&client, &url, Some(KEY), &via_cloud).await;
            through.push(first);
            through_end.push(end);
        }
        let chunks = SENTENCE.chars().count().div_ceil(8) as f64;
        let (t, d) = (median_of(through), median_of(directly));
        let (te, de) = (median_of(through_end), median_of(directly_end));
        println!("  cloud: first token through sluice {t:.3}, from the fake directly {d:.3}: added {:.3}", t - d);
        println!(
            "  cloud, whole PII-dense stream of {chunks} chunks: through sluice {te:.3}, directly {de:.3}: added {:.3} per chunk",
            (te - de) / chunks
        );
        let question = "What is the capital of Peru?";
        let via_local = streamed(json!({"model": "sluice/local", "stream": true, "max_tokens": 4,
            "messages": [{"role": "user", "content": question}]}));
        let local_streams = streams.min(30);
        let (mut through, mut own) = (Vec::new(), Vec::new());
        for _ in 0..local_streams {
            let framed = sluice::local::chat::frame(
                &[sluice::conversation::Turn::user(question)],
                model.info().chat_template.as_deref(),
                model.tokenizer(),
            );
            let mut request = sluice::local::GenerateRequest::new(framed.prompt);
            request.max_tokens = 4;
            request.stop = framed.stop;
            request.marked = framed.marked;
            request.answer_required = true;
            let started = Instant::now();
            let mut pending = model.submit_streaming(request).expect("queued");
            let mut pieces = pending.text.take().expect("streaming");
            while let Some(piece) = pieces.recv().await {
                if !piece.trim().is_empty() {
                    own.push(started.elapsed().as_secs_f64() * 1e3);
                    break;
                }
            }
            drop(pieces);
            let _ = pending.finish().await;
            through.push(first_content(&client, &url, Some(KEY), &via_local).await.0);
        }
        let (t, o) = (median_of(through), median_of(own));
        println!(
            "  local ({local_streams} each): first token through sluice {t:.3}, the model's own {o:.3}: added {:.3}",
            t - o
        );

        println!("rising rates through sluice, 3 rounds of {seconds} s each, median p99:");
        let mut best = None;
        for step in [250.0, 500.0, 750.0, 1000.0, 1500.0, 2000.0, 3000.0] {
            let mut runs = Vec::new();
            for _ in 0..3 {
                runs.push(drive(&client, &url, Some(KEY), &via, step, seconds).await);
            }
            let (p50, p99) = (median(&runs, |r| r.p50), median(&runs, |r| r.p99));
            let failed: usize = runs.iter().map(|r| r.failed).sum();
            let sent: usize = runs.iter().map(|r| r.sent).sum();
            println!("  {step:6.0}/s  p50 {p50:7.3}  p99 {p99:8.3}  failed {failed}/{sent}");
            if p99 < 10.0 && failed == 0 {
                best = Some(step);
            } else {
                break;
            }
        }
        match best {
            Some(r) => println!("highest rate with p99 under 10 ms: {r:.0} requests/s"),
            None => println!("no rate tried kept p99 under 10 ms"),
        }

    });
}
