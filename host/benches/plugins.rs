//! Plugin host figures (`cargo xtask bench plugins`), all in one run:
//! - decision latency of the Rust, Python and JavaScript routers, fresh
//!   instance and pooled (criterion, medians);
//! - file rename → new version serving, for the Rust router (median of 15);
//! - host start with every reference plugin ready, cold (empty artifact
//!   cache) and warm (median of 5).
//!
//! Needs the built plugins in target/plugins (`cargo xtask plugins`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::Criterion;
use sluice::plugins::contract::RouteContext;
use sluice::plugins::{CallSettings, HostConfig, InstanceMode, PluginHost};

fn built(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/plugins")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask plugins`",
        path.display()
    );
    path
}

const ROUTERS: [&str; 3] = [
    "complexity-router",
    "complexity-router-py",
    "complexity-router-js",
];
const REFERENCE: [&str; 5] = [
    "complexity-router",
    "complexity-router-py",
    "complexity-router-js",
    "confidence-merge",
    "test-anonymiser",
];

fn folder(names: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in names {
        std::fs::copy(built(name), dir.path().join(format!("{name}.wasm"))).unwrap();
    }
    dir
}

fn config(cache: &Path) -> HostConfig {
    HostConfig {
        cache_dir: cache.to_path_buf(),
        ..HostConfig::default()
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn decisions(c: &mut Criterion, cache: &Path) {
    let dir = folder(&ROUTERS);
    let host = PluginHost::start(config(cache)).unwrap();
    host.registry().load_dir(dir.path());
    let set = host.registry().snapshot();
    let ctx = RouteContext::example();
    let settings = CallSettings {
        deadline: Duration::from_secs(1),
        ..CallSettings::default()
    };
    let mut group = c.benchmark_group("route decision");
    for name in ROUTERS {
        let plugin = set
            .get(name)
            .unwrap_or_else(|| panic!("{name}: {:?}", set.status(name)))
            .clone();
        for (mode, label) in [
            (InstanceMode::Pooled, "pooled"),
            (InstanceMode::Fresh, "fresh"),
        ] {
            group.bench_function(format!("{name}/{label}"), |b| {
                b.iter(|| {
                    host.engine()
                        .block_on(plugin.route_in(mode, &ctx, &settings))
                        .expect("routes")
                })
            });
        }
    }
    group.finish();
}

/// Rename a new version over the router's file and time until it serves.
/// `compile`: empty the artifact cache first, as for a version never seen before.
fn hot_swap(cache: &Path, compile: bool) {
    let dir = folder(&["complexity-router"]);
    let target = dir.path().join("complexity-router.wasm");
    let host = PluginHost::start(config(cache)).unwrap();
    host.registry().load_dir(dir.path());
    let _watch = sluice::plugins::watch::watch(host.registry().clone(), dir.path()).unwrap();
    let versions = [built("testing/constant-router"), built("complexity-router")];
    let mut samples = Vec::new();
    for i in 0..15 {
        let next = &versions[i % 2];
        let want = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(std::fs::read(next).unwrap()))
        };
        if compile {
            for entry in std::fs::read_dir(cache).unwrap().flatten() {
                std::fs::remove_file(entry.path()).unwrap();
            }
        }
        let tmp = dir.path().join("next.wasm.tmp");
        std::fs::copy(next, &tmp).unwrap();
        let started = Instant::now();
        std::fs::rename(&tmp, &target).unwrap();
        while host
            .registry()
            .snapshot()
            .get("complexity-router")
            .is_none_or(|p| p.sha256 != want)
        {
            std::thread::sleep(Duration::from_micros(200));
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "swap never happened"
            );
        }
        samples.push(started.elapsed());
        std::thread::sleep(Duration::from_millis(100));
    }
    let what = if compile {
        "new version, compiled"
    } else {
        "known version, from the artifact cache"
    };
    println!(
        "hot swap, Rust router ({what}): rename -> serving median {:.1} ms over 15 swaps (debounce {} ms)",
        ms(median(samples)),
        sluice::plugins::watch::DEBOUNCE.as_millis()
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn start(cache: &Path) {
    let dir = folder(&REFERENCE);
    let start_once = |cache: &Path| {
        let started = Instant::now();
        let host = PluginHost::start(config(cache)).unwrap();
        host.registry().load_dir(dir.path());
        let set = host.registry().snapshot();
        assert_eq!(
            set.plugins().count(),
            REFERENCE.len(),
            "every reference plugin ready"
        );
        started.elapsed()
    };
    let cold: Vec<Duration> = (0..2)
        .map(|_| {
            let empty = tempfile::tempdir().unwrap();
            start_once(empty.path())
        })
        .collect();
    start_once(cache);
    let warm: Vec<Duration> = (0..5).map(|_| start_once(cache)).collect();
    let (cold, warm) = (median(cold), median(warm));
    println!(
        "host start with {} reference plugins ready: cold (no cache) median {:.0} ms, warm (cache) median {:.1} ms, cold/warm {:.0}x",
        REFERENCE.len(),
        ms(cold),
        ms(warm),
        cold.as_secs_f64() / warm.as_secs_f64()
    );
}

fn main() {
    let cache = tempfile::tempdir().unwrap();
    let mut criterion = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    decisions(&mut criterion, cache.path());
    criterion.final_summary();
    print_medians();
    let swap_cache = tempfile::tempdir().unwrap();
    hot_swap(swap_cache.path(), true);
    hot_swap(swap_cache.path(), false);
    start(cache.path());
}

/// Criterion prints means; the figures we track are medians, from its estimates.
fn print_medians() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion/route decision");
    println!("route decision, median per call:");
    for name in ROUTERS {
        let median_of = |mode: &str| -> Option<f64> {
            let text =
                std::fs::read_to_string(dir.join(format!("{name}_{mode}/new/estimates.json")))
                    .ok()?;
            let json: serde_json::Value = serde_json::from_str(&text).ok()?;
            json["median"]["point_estimate"].as_f64().map(|ns| ns / 1e3)
        };
        if let (Some(pooled), Some(fresh)) = (median_of("pooled"), median_of("fresh")) {
            println!(
                "  {name:<22} pooled {pooled:>9.2} us   fresh {fresh:>9.2} us   fresh/pooled {:.1}x",
                fresh / pooled
            );
        }
    }
}
