//! The dashboard in a real browser: Debian's chromium, driven by
//! puppeteer-core, against a running server after real requests. The page
//! loads with the admin key, shows the policies, the request counts and a
//! decision's trace, updates without a reload, and logs no console error;
//! its data needs the admin key; a refused policy file is shown with its
//! problem. A screenshot goes to target/dashboard.png.

use std::process::Command;

use serde_json::{Value, json};
use sluice::api::ServerSettings;

use crate::api::{ADMIN_KEY, USER_KEY, start_in};
use crate::stack::Workspace;
use crate::support::root;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_draws_what_happened_and_updates_without_a_reload() {
    let server = start_in(Workspace::new(&[]), ServerSettings::default()).await;
    // A policy file with a mistake is refused; the page says which and why.
    let broken = server.ws.policies().join("broken.toml");
    std::fs::write(&broken, "pattern = \"triage-sideways\"\n").unwrap();
    server.stack.pipeline.policies.sync_path(&broken);
    assert_eq!(server.stack.pipeline.policies.rejections().len(), 1);
    for text in ["Hola, soy Carlos Restrepo.", "Necesito una cita."] {
        let answer = server
            .chat(json!({"model": "sluice/cloud", "messages": [{"role": "user", "content": text}]}))
            .await;
        assert_eq!(answer.status, 200);
    }

    // The page is public and holds no data; its data needs the admin key.
    let page = server
        .http
        .get(format!("{}/dashboard", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(!page.text().await.unwrap().contains("Carlos"));
    for (key, status) in [(None, 401), (Some(USER_KEY), 403), (Some(ADMIN_KEY), 200)] {
        let mut request = server.http.get(format!("{}/admin/dashboard", server.url));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        assert_eq!(request.send().await.unwrap().status(), status, "{key:?}");
    }

    let shot = root().join("target/dashboard.png");
    let node = tokio::task::spawn_blocking({
        let (url, shot) = (server.url.clone(), shot.clone());
        move || {
            Command::new("node")
                .arg(root().join("tests/js/dashboard.mjs"))
                .env("SLUICE_URL", url)
                .env("SLUICE_KEY", USER_KEY)
                .env("SLUICE_ADMIN_KEY", ADMIN_KEY)
                .env("SLUICE_SCREENSHOT", shot)
                .output()
                .expect("node")
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&node.stdout);
    let stderr = String::from_utf8_lossy(&node.stderr);
    assert!(node.status.success(), "{stdout}\n{stderr}");
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    println!("{seen:#}");

    assert_eq!(seen["problems"], json!([]), "console errors: {seen}");
    let before = &seen["before"];
    assert_eq!(before["requests"], 2);
    assert!(
        !before["url"].as_str().unwrap().contains("key="),
        "the key stays out of the address bar"
    );
    let text = before["text"].as_str().unwrap();
    for policy in [
        "contract-triage",
        "intent-classify",
        "report-draft",
        "cloud",
        "local",
    ] {
        assert!(text.contains(policy), "{policy} is not shown");
    }
    assert!(text.contains("2 requests since"), "{text}");
    assert!(
        text.contains("Policy files refused") && text.contains("broken.toml"),
        "the refused policy file is shown: {text}"
    );
    assert!(text.contains("all-cloud cost avoided"), "{text}");
    assert!(
        text.contains("pii-detector") && text.contains("pdf-extractor"),
        "plugins are listed"
    );
    // Updated without a reload: the new request is counted and its
    // decision comes first, with its records.
    let after = &seen["after"];
    assert_eq!(after["requests"], 3);
    assert!(after["refreshes"].as_u64().unwrap() > before["refreshes"].as_u64().unwrap());
    assert_eq!(after["decisions"][0], seen["decision"]);
    let trace = seen["trace"].as_str().unwrap();
    for kind in ["route", "anonymise", "answer"] {
        assert!(trace.contains(kind), "{kind} is not in the trace: {trace}");
    }
    assert!(
        !trace.contains("Ana Gómez"),
        "the trace holds no personal data: {trace}"
    );
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
}
