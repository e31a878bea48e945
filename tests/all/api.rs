//! The HTTP API over real sockets: the official `openai` Python package as
//! the client (models, chat, streaming with usage, `json_schema`,
//! `parse()` with a Pydantic model), schemathesis against OpenAI's own
//! OpenAPI document, every kind of bad input answered in the OpenAI error
//! shape while the server keeps serving, the admin API and metrics, a load
//! past the concurrency cap (503s, not memory), and a shutdown that drains.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sluice::api::{self, Api, Keys, ServerSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::fake_cloud::{FakeCloud, Reply};
use crate::stack::{Workspace, cloud_config, model, pipeline, routed_by};
use crate::support::{built, root};

pub(crate) const USER_KEY: &str = "sk-test-user-key";
pub(crate) const ADMIN_KEY: &str = "sk-test-admin-key";

/// A Colombian contract clause full of personal data.
const CLAUSE: &str = "Entre los suscritos, Carlos Andrés Restrepo Gómez, identificado con C.C. 79.845.123 de Bogotá, \
correo carlos.restrepo@example.co, y la sociedad Inversiones Andinas S.A.S., NIT 900.123.456-7, \
se celebra el presente contrato de arrendamiento.";

pub(crate) struct Server {
    pub(crate) url: String,
    pub(crate) fake: FakeCloud,
    pub(crate) ws: Workspace,
    pub(crate) stack: crate::stack::Setup,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    pub(crate) http: reqwest::Client,
}

async fn start(settings: ServerSettings) -> Server {
    start_in(Workspace::new(&[]), settings).await
}

pub(crate) async fn start_in(ws: Workspace, settings: ServerSettings) -> Server {
    let fake = FakeCloud::start().await;
    let local = model();
    let stack = pipeline(&ws, &local, Some(cloud_config(&fake)));
    let keys = Keys::new(&[], &[], &[USER_KEY.into()], &[ADMIN_KEY.into()]).unwrap();
    let api = Api::new(stack.pipeline.clone(), settings, keys);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(api::serve(listener, api, async {
        let _ = stopped.await;
    }));
    Server {
        url,
        fake,
        ws,
        stack,
        stop: Some(stop),
        task,
        http: reqwest::Client::new(),
    }
}

/// One exchange: status, headers, the body as text and as JSON (`null`
/// when it is not JSON).
pub(crate) struct Answer {
    pub(crate) status: u16,
    headers: reqwest::header::HeaderMap,
    pub(crate) body: Value,
    text: String,
}

impl Server {
    async fn send(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Answer {
        let mut request = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.url));
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    pub(crate) async fn chat(&self, body: Value) -> Answer {
        self.send(
            "POST",
            "/v1/chat/completions",
            Some(USER_KEY),
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    pub(crate) async fn admin(&self, path: &str) -> Answer {
        self.send("GET", path, Some(ADMIN_KEY), None).await
    }

    /// One plugin's entry in `GET /admin/plugins`.
    async fn plugin_listed(&self, name: &str) -> Value {
        let plugins = self.admin("/admin/plugins").await;
        assert_eq!(plugins.status, 200, "{}", plugins.body);
        plugins.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} is not listed: {}", plugins.body))
            .clone()
    }

    /// Every byte the fake cloud received, as text.
    pub(crate) fn cloud_received(&self) -> String {
        self.fake
            .requests()
            .iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect()
    }
}

/// The audit log's chain verifies and holds records.
pub(crate) fn intact(server: &Server) {
    let verified = sluice::audit::verify(&server.ws.audit()).unwrap();
    assert!(verified.tamper.is_none(), "{:?}", verified.tamper);
    assert!(verified.records > 0);
}

/// The Python that has the client packages (`cargo xtask test` makes it).
pub(crate) fn python_bin() -> String {
    std::env::var("SLUICE_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

pub(crate) fn python(script: &str, server: &Server, extra: &[(&str, &str)]) {
    let output = Command::new(python_bin())
        .arg(root().join("tests/python").join(script))
        .env("SLUICE_URL", &server.url)
        .env("SLUICE_KEY", USER_KEY)
        .envs(extra.iter().copied())
        .output()
        .expect("python3");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{text}");
    assert!(output.status.success(), "{script} failed:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_python_client_works_unchanged() {
    let server = start(ServerSettings::default()).await;
    python("openai_client.py", &server, &[("SLUICE_CLAUSE", CLAUSE)]);
    // The cloud policy's requests left pseudonymised.
    let sent = server.cloud_received();
    assert!(sent.contains("[PERSON_1]"), "{sent}");
    for raw in [
        "Carlos Andrés Restrepo Gómez",
        "79.845.123",
        "carlos.restrepo@example.co",
        "900.123.456-7",
    ] {
        assert!(!sent.contains(raw), "{raw} reached the cloud");
    }
    intact(&server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_spec_violation() {
    // The spec's model names, aliased to the cloud policy: generated
    // requests then run the whole pipeline (detector, fake cloud,
    // re-identification, audit) instead of stopping at 404.
    let script = root().join("tests/python/schemathesis_openai.py");
    let models = Command::new(python_bin())
        .arg(&script)
        .arg("--models")
        .output()
        .unwrap();
    assert!(
        models.status.success(),
        "{}",
        String::from_utf8_lossy(&models.stderr)
    );
    let models: Vec<String> = serde_json::from_slice(&models.stdout).unwrap();
    assert!(models.len() > 10, "{models:?}");
    let settings = ServerSettings {
        aliases: models
            .into_iter()
            .map(|m| (m, "cloud".to_string()))
            .collect(),
        ..ServerSettings::default()
    };
    let server = start(settings).await;
    python("schemathesis_openai.py", &server, &[]);
    let metrics = server.send("GET", "/metrics", None, None).await;
    for line in metrics.text.lines().filter(|l| {
        l.starts_with("sluice_http_requests_total") || l.starts_with("sluice_request_failures")
    }) {
        println!("{line}");
    }
    // Generated requests reached the pipeline, and it still answers.
    assert!(
        !server.fake.requests().is_empty(),
        "no generated request reached the cloud policy"
    );
    assert_eq!(server.send("GET", "/healthz", None, None).await.status, 200);
    intact(&server);
}

/// A bad request: what is sent, and the status, `code` and words of the
/// message that must come back.
struct Bad {
    what: &'static str,
    method: &'static str,
    path: &'static str,
    key: Option<&'static str>,
    body: Option<Vec<u8>>,
    status: u16,
    code: Option<&'static str>,
    says: &'static str,
}

fn bad(
    what: &'static str,
    path: &'static str,
    body: Value,
    status: u16,
    code: &'static str,
    says: &'static str,
) -> Bad {
    Bad {
        what,
        method: "POST",
        path,
        key: Some(USER_KEY),
        body: Some(body.to_string().into_bytes()),
        status,
        code: Some(code),
        says,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_openai_errors_and_the_server_keeps_serving() {
    let settings = ServerSettings {
        max_body_kib: 64,
        ..ServerSettings::default()
    };
    let server = start(settings).await;
    let chat = "/v1/chat/completions";
    let user = |text: &str| json!([{"role": "user", "content": text}]);
    let cases = [
        Bad {
            body: Some(vec![b'x'; 65 << 10]),
            ..bad(
                "oversize body",
                chat,
                json!({}),
                413,
                "body_too_large",
                "larger than the server accepts",
            )
        },
        Bad {
            body: Some(b"{\"model\": \"sluice/local\", \"messages\": [".to_vec()),
            ..bad(
                "broken JSON",
                chat,
                json!({}),
                400,
                "invalid_json",
                "not valid JSON",
            )
        },
        bad(
            "wrong type",
            chat,
            json!({"model": "sluice/local", "messages": "hi"}),
            400,
            "invalid_json",
            "messages",
        ),
        bad(
            "unknown role",
            chat,
            json!({"model": "sluice/local", "messages": [{"role": "robot", "content": "hi"}]}),
            400,
            "invalid_json",
            "messages[0].role",
        ),
        bad(
            "unknown model",
            chat,
            json!({"model": "gpt-imaginary", "messages": user("hi")}),
            404,
            "model_not_found",
            "sluice/contract-triage",
        ),
        bad(
            "no messages",
            chat,
            json!({"model": "sluice/local", "messages": []}),
            400,
            "",
            "at least one user message",
        ),
        bad(
            "several choices",
            chat,
            json!({"model": "sluice/local", "messages": user("hi"), "n": 3}),
            400,
            "",
            "set n to 1",
        ),
        bad(
            "an image",
            chat,
            json!({"model": "sluice/local", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x"}}]}]}),
            400,
            "",
            "sluice reads text",
        ),
        bad(
            "an invalid schema",
            chat,
            json!({"model": "sluice/local", "messages": user("hi"), "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": 12}}}}),
            422,
            "invalid_response_format",
            "not valid",
        ),
        bad(
            "a schema for a policy that has one",
            chat,
            json!({"model": "sluice/contract-triage", "messages": user("hi"), "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}}),
            422,
            "invalid_response_format",
            "answers in its own schema",
        ),
        bad(
            "an empty document",
            chat,
            json!({"model": "sluice/local", "messages": user("  ")}),
            400,
            "empty_document",
            "empty",
        ),
        bad(
            "unknown workflow",
            "/v1/workflows/nope",
            json!({"document": "x"}),
            404,
            "model_not_found",
            "does not exist",
        ),
        bad(
            "workflow without a document",
            "/v1/workflows/local",
            json!({"metadata": {}}),
            400,
            "invalid_json",
            "document",
        ),
        bad(
            "workflow tags of the wrong type",
            "/v1/workflows/local",
            json!({"document": "x", "metadata": {"tags": 3}}),
            400,
            "",
            "metadata.tags",
        ),
        Bad {
            key: None,
            ..bad(
                "no key",
                chat,
                json!({}),
                401,
                "invalid_api_key",
                "Authorization: Bearer",
            )
        },
        Bad {
            key: Some("sk-wrong"),
            ..bad(
                "a wrong key",
                chat,
                json!({}),
                401,
                "invalid_api_key",
                "not valid",
            )
        },
        Bad {
            key: Some(ADMIN_KEY),
            ..bad(
                "an admin key on /v1",
                chat,
                json!({}),
                403,
                "insufficient_permissions",
                "admin key",
            )
        },
        Bad {
            method: "GET",
            body: None,
            ..bad(
                "a user key on /admin",
                "/admin/stats",
                json!({}),
                403,
                "insufficient_permissions",
                "admin API",
            )
        },
        Bad {
            method: "GET",
            key: Some(ADMIN_KEY),
            body: None,
            ..bad(
                "a bad audit filter",
                "/admin/audit?kind=bogus",
                json!({}),
                400,
                "",
                "not a record kind",
            )
        },
        Bad {
            method: "GET",
            body: None,
            ..bad(
                "an unknown path",
                "/v2/everything",
                json!({}),
                404,
                "unknown_url",
                "no endpoint",
            )
        },
        Bad {
            method: "GET",
            ..bad(
                "a wrong method",
                chat,
                json!({}),
                405,
                "method_not_allowed",
                "does not take GET",
            )
        },
    ];
    for case in &cases {
        let answer = server
            .send(case.method, case.path, case.key, case.body.clone())
            .await;
        let error = &answer.body["error"];
        assert_eq!(answer.status, case.status, "{}: {}", case.what, answer.body);
        for field in ["message", "type", "param", "code"] {
            assert!(
                error.get(field).is_some(),
                "{}: no {field} in {}",
                case.what,
                answer.body
            );
        }
        if let Some(code) = case.code.filter(|c| !c.is_empty()) {
            assert_eq!(error["code"], code, "{}: {}", case.what, answer.body);
        }
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains(case.says),
            "{}: {message:?} does not say {:?}",
            case.what,
            case.says
        );
        assert!(
            !message.contains(USER_KEY) && !message.contains(ADMIN_KEY),
            "{}: a key in {message}",
            case.what
        );
    }

    // A client that goes away mid-stream: the server notices nothing but a
    // closed socket.
    let mut socket = tokio::net::TcpStream::connect(server.url.trim_start_matches("http://"))
        .await
        .unwrap();
    let body =
        json!({"model": "sluice/cloud", "stream": true, "messages": user(CLAUSE)}).to_string();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {USER_KEY}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(body.as_bytes()).await.unwrap();
    let mut first = [0u8; 64];
    let read = socket.read(&mut first).await.unwrap();
    assert!(String::from_utf8_lossy(&first[..read]).starts_with("HTTP/1.1 200"));
    drop(socket);

    // Still serving, and answering right.
    let answer = server
        .chat(json!({"model": "sluice/cloud", "messages": user(CLAUSE)}))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["choices"][0]["message"]["content"], CLAUSE);
    assert_eq!(answer.headers["x-sluice-route"], "cloud");
    assert!(answer.headers.contains_key("x-sluice-decision-id"));
    assert_eq!(server.send("GET", "/healthz", None, None).await.status, 200);
    intact(&server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_metrics_and_readiness_tell_what_happened() {
    let server = start(ServerSettings::default()).await;
    let answer = server
        .send(
            "POST",
            "/v1/workflows/cloud",
            Some(USER_KEY),
            Some(
                json!({"document": CLAUSE, "metadata": {"tags": ["litigation"]}})
                    .to_string()
                    .into_bytes(),
            ),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["result"], CLAUSE);
    assert_eq!(answer.body["route"], "cloud");
    assert_eq!(answer.body["answered_by"], "cloud");
    let request_id = answer.body["id"].as_str().unwrap().to_string();
    let decision = answer.body["decision_id"].as_str().unwrap().to_string();
    assert_eq!(answer.headers["x-sluice-decision-id"], decision.as_str());
    assert!(answer.body["usage"]["cloud"]["bytes"].as_u64().unwrap() > 0);

    // A broken plugin file is refused and shown, the old version serving.
    let broken = server.ws.policies().join("pii-detector.wasm");
    let good = std::fs::read(&broken).unwrap();
    std::fs::write(&broken, b"not a component").unwrap();
    server.stack.host.registry().sync_path(&broken);
    std::fs::write(&broken, good).unwrap();

    let detector = server.plugin_listed("pii-detector").await;
    assert_eq!(detector["status"], "ready", "{detector}");
    assert_eq!(detector["world"], "anonymiser");
    assert_eq!(detector["version"].as_str().unwrap().len(), 64);
    assert!(detector["calls"].as_u64().unwrap() >= 1, "{detector}");
    assert_eq!(detector["last_rejection"]["stage"], "parse", "{detector}");
    assert_eq!(detector["contract_version"], "0.2.1");
    assert!(detector["deprecated"].is_null(), "{detector}");

    // A plugin built for the previous contract serves, marked deprecated.
    let legacy = server.ws.policies().join("legacy-router.wasm");
    std::fs::copy(built("testing/constant-router"), &legacy).unwrap();
    server.stack.host.registry().sync_path(&legacy);
    let listed = server.plugin_listed("legacy-router").await;
    assert_eq!(listed["status"], "ready", "{listed}");
    assert_eq!(listed["contract_version"], "0.1.0");
    let why = listed["deprecated"].as_str().unwrap_or_default();
    assert!(
        why.contains("sluice:policy@0.1.0") && why.contains("0.2.1"),
        "{listed}"
    );

    let policies = server.admin("/admin/policies").await;
    let names: Vec<&str> = policies.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "cloud",
        "contract-triage",
        "intent-classify",
        "local",
        "report-draft",
    ] {
        assert!(names.contains(&name), "{names:?}");
    }

    let audit = server
        .send(
            "GET",
            &format!("/admin/audit?request_id={request_id}"),
            Some(ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(audit.status, 200);
    assert_eq!(audit.headers["content-type"], "application/x-ndjson");
    let lines: Vec<Value> = audit
        .text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["route", "anonymise", "answer"], "{lines:?}");
    assert_eq!(lines[2]["id"], decision.as_str());
    assert!(!audit.text.contains("Restrepo"), "raw PII in the audit log");
    let limited = server
        .send("GET", "/admin/audit?limit=1", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(limited.text.lines().count(), 1);

    // A reviewer's verdict on the answer is kept as a label record of its
    // policy; a request that was never answered, a bad label or a user key
    // is refused.
    let label = |body: Value, key| {
        server.send(
            "POST",
            "/admin/labels",
            Some(key),
            Some(body.to_string().into_bytes()),
        )
    };
    let kept = label(
        json!({"request_id": request_id, "verdict": "wrong", "fields": ["result"]}),
        ADMIN_KEY,
    )
    .await;
    assert_eq!(kept.status, 201, "{}", kept.body);
    assert_eq!(kept.body["policy"], "cloud");
    let record = server
        .send("GET", "/admin/audit?kind=label", Some(ADMIN_KEY), None)
        .await;
    let record: Value = serde_json::from_str(record.text.trim()).unwrap();
    assert_eq!(
        (
            &record["id"],
            &record["request_id"],
            &record["decision"],
            &record["reasons"]
        ),
        (
            &kept.body["id"],
            &json!(request_id),
            &json!("wrong"),
            &json!(["result"])
        )
    );
    for (body, key, status, code) in [
        (
            json!({"request_id": "never-sent", "verdict": "wrong"}),
            ADMIN_KEY,
            404,
            "unknown_request",
        ),
        (
            json!({"request_id": request_id, "verdict": "maybe"}),
            ADMIN_KEY,
            400,
            "invalid_json",
        ),
        (
            json!({"request_id": request_id, "verdict": "wrong", "fields": ["Carlos Restrepo"]}),
            ADMIN_KEY,
            400,
            "invalid_label",
        ),
        (
            json!({"request_id": request_id, "verdict": "right"}),
            USER_KEY,
            403,
            "",
        ),
    ] {
        let refused = label(body.clone(), key).await;
        assert_eq!(refused.status, status, "{body}: {}", refused.body);
        if !code.is_empty() {
            assert_eq!(refused.body["error"]["code"], code, "{}", refused.body);
        }
    }

    let stats = server.admin("/admin/stats").await;
    assert_eq!(stats.body["requests"], 1, "{}", stats.body);
    assert_eq!(stats.body["cloud_share"], 1.0);
    assert_eq!(stats.body["policies"]["cloud"]["routes"]["cloud"], 1);
    assert!(stats.body["cloud_sent"]["bytes"].as_u64().unwrap() > 0);

    let metrics = server.send("GET", "/metrics", None, None).await;
    let text = &metrics.text;
    for needle in [
        "sluice_http_requests_total{path=\"/v1/workflows/{policy}\",method=\"POST\",status=\"200\"} 1",
        "sluice_answers_total{policy=\"cloud\",route=\"cloud\",answered_by=\"cloud\",degraded=\"false\"} 1",
        "sluice_stage_duration_seconds_bucket{le=",
        "stage=\"anonymise\"",
        "sluice_plugin_calls_total{plugin=\"pii-detector\"",
        "sluice_local_queue_depth 0",
        "sluice_cloud_retries_total 0",
        "sluice_in_flight_requests 0",
    ] {
        assert!(text.contains(needle), "no {needle:?} in\n{text}");
    }
    let ready = server.send("GET", "/readyz", None, None).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.body["status"], "ready");
    // The embedded base model carries no chat template.
    assert_eq!(ready.body["chat_format"], "dialogue");
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_concurrency_cap_come_503s_not_memory_growth() {
    let settings = ServerSettings {
        max_concurrent: 4,
        ..ServerSettings::default()
    };
    let server = Arc::new(start(settings).await);
    server.fake.script(std::iter::repeat_n(
        Reply::Slow(Duration::from_millis(150)),
        100_000,
    ));
    let wave = |server: Arc<Server>| async move {
        let tasks: Vec<_> = (0..48)
            .map(|i| {
                let server = server.clone();
                tokio::spawn(async move {
                    let answer = server
                        .chat(json!({"model": "sluice/cloud", "messages": [{"role": "user", "content": format!("Pedido {i} de la señora Marta Lucía Pérez.")}]}))
                        .await;
                    (answer.status, answer.headers.get("retry-after").cloned(), answer.body)
                })
            })
            .collect();
        let mut ok = 0;
        let mut refused = 0;
        for task in tasks {
            let (status, retry_after, body) = task.await.unwrap();
            match status {
                200 => ok += 1,
                503 => {
                    assert_eq!(retry_after.unwrap(), "1");
                    assert_eq!(body["error"]["code"], "overloaded", "{body}");
                    refused += 1;
                }
                other => panic!("status {other}: {body}"),
            }
        }
        (ok, refused)
    };
    let (ok, refused) = wave(server.clone()).await;
    assert!(ok >= 4 && refused > 0, "{ok} answered, {refused} refused");
    let after_first = rss_kib();
    let mut totals = (ok, refused);
    for _ in 0..8 {
        let (ok, refused) = wave(server.clone()).await;
        totals.0 += ok;
        totals.1 += refused;
    }
    let after_last = rss_kib();
    println!(
        "{} answered, {} refused with 503; RSS {} KiB after the first wave, {} KiB after nine",
        totals.0, totals.1, after_first, after_last
    );
    assert!(
        after_last < after_first + 48 * 1024,
        "memory grew from {after_first} KiB to {after_last} KiB"
    );
    let overloaded = server.send("GET", "/metrics", None, None).await;
    assert!(
        overloaded
            .text
            .contains(&format!("sluice_overloaded_total {}", totals.1)),
        "{}",
        overloaded.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_the_requests_in_flight() {
    let mut server = start(ServerSettings::default()).await;
    server
        .fake
        .script([Reply::Slow(Duration::from_millis(800))]);
    let http = server.http.clone();
    let url = format!("{}/v1/chat/completions", server.url);
    let in_flight = tokio::spawn(async move {
        http.post(url)
            .header("authorization", format!("Bearer {USER_KEY}"))
            .header("content-type", "application/json")
            .body(
                json!({"model": "sluice/cloud", "messages": [{"role": "user", "content": CLAUSE}]})
                    .to_string(),
            )
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.stop.take().unwrap().send(()).unwrap();
    assert_eq!(in_flight.await.unwrap().unwrap(), 200);
    (&mut server.task).await.unwrap().unwrap();
    assert!(
        tokio::net::TcpStream::connect(server.url.trim_start_matches("http://"))
            .await
            .is_err()
    );
    intact(&server);
}

/// The audit records of one request, through the admin API.
async fn audited(server: &Server, request_id: &str) -> Vec<Value> {
    let audit = server
        .admin(&format!("/admin/audit?request_id={request_id}"))
        .await;
    assert_eq!(audit.status, 200, "{}", audit.text);
    audit
        .text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Routers that block inside a WASI call, through the server: each request
/// is answered from the local route, its router stage ends within the
/// deadline (25 ms) + 50 ms, one route record names the failure and one
/// answer record follows; five failures quarantine the router; a good
/// router's policy still answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routers_that_block_in_wasi_fall_back_local_and_are_audited() {
    let hostile = ["sleeper", "far-poll", "stdin-read", "config-bomb"];
    let policies: Vec<(String, String)> = hostile
        .iter()
        .map(|h| (format!("blocked-{h}"), routed_by(h)))
        .chain([("good-router".to_string(), routed_by("complexity-router"))])
        .collect();
    let ws = Workspace::with_policies(&policies);
    for h in hostile {
        ws.add_plugin(&format!("testing/{h}"), h);
    }
    let server = start_in(ws, ServerSettings::default()).await;
    let ask = |policy: String| {
        let server = &server;
        async move {
            let answer = server
                .send(
                    "POST",
                    &format!("/v1/workflows/{policy}"),
                    Some(USER_KEY),
                    Some(
                        json!({"document": "Necesito una cita el lunes para revisar mi contrato."})
                            .to_string()
                            .into_bytes(),
                    ),
                )
                .await;
            assert_eq!(answer.status, 200, "{policy}: {}", answer.text);
            let id = answer.body["id"].as_str().unwrap().to_string();
            (answer, audited(server, &id).await)
        }
    };
    let of_kind = |records: &[Value], kind: &str| -> Vec<Value> {
        records
            .iter()
            .filter(|r| r["kind"] == kind)
            .cloned()
            .collect()
    };

    for h in hostile {
        let (answer, records) = ask(format!("blocked-{h}")).await;
        assert_eq!(answer.body["route"], "local", "{h}: {}", answer.body);
        let routes = of_kind(&records, "route");
        assert_eq!(routes.len(), 1, "{h}: {records:?}");
        assert_eq!(routes[0]["decision"], "local");
        let reason = routes[0]["reasons"][0].as_str().unwrap();
        assert!(
            reason.starts_with(&format!(
                "fallback: plugin {h} ran past its deadline of 25ms"
            )),
            "{h}: {reason}"
        );
        let answers = of_kind(&records, "answer");
        assert_eq!(answers.len(), 1, "{h}: {records:?}");
        let router_ms = answers[0]["latency_ms"]["router"].as_f64().unwrap();
        assert!(router_ms <= 75.0, "{h}: router stage took {router_ms} ms");
    }

    // Four more failures make five in the window: the sixth is not called.
    for _ in 0..4 {
        ask("blocked-sleeper".into()).await;
    }
    let (answer, records) = ask("blocked-sleeper".into()).await;
    assert_eq!(answer.body["route"], "local");
    let reason = of_kind(&records, "route")[0]["reasons"][0].clone();
    assert!(
        reason.as_str().unwrap().contains("is quarantined"),
        "{reason}"
    );
    let sleeper = server.plugin_listed("sleeper").await;
    assert_eq!(sleeper["status"], "quarantined", "{sleeper}");

    let (_, records) = ask("good-router".into()).await;
    let route = &of_kind(&records, "route")[0];
    assert!(
        !route["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("fallback"),
        "{route}"
    );
    intact(&server);
}

/// The message texts the fake cloud received since request `from`.
fn sent_since(server: &Server, from: usize) -> String {
    server.fake.bodies()[from..]
        .iter()
        .flat_map(|b| b["messages"].as_array().cloned().unwrap_or_default())
        .filter_map(|m| m["content"].as_str().map(str::to_string))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Credentials pasted into a prompt (29 formats, in English and Spanish)
/// never reach the cloud and are not put back into the answer; the
/// look-alikes that are not credentials are left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_reach_the_cloud_and_are_not_restored() {
    let server = start(ServerSettings::default()).await;
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/fixtures/secrets.json")).unwrap(),
    )
    .unwrap();
    let ask = |text: String| {
        let server = &server;
        async move {
            let from = server.fake.requests().len();
            let answer = server
                .chat(json!({"model": "sluice/cloud", "messages": [{"role": "user", "content": text}]}))
                .await;
            assert_eq!(answer.status, 200, "{}", answer.text);
            let content = answer.body["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .to_string();
            (sent_since(server, from), content)
        }
    };
    let secrets = fixture["secrets"].as_array().unwrap();
    assert!(secrets.len() >= 25);
    for case in secrets {
        let value = case["value"].as_str().unwrap();
        for lang in ["en", "es"] {
            let (sent, content) = ask(case[lang].as_str().unwrap().to_string()).await;
            assert!(
                !sent.contains(value),
                "{} ({lang}) reached the cloud: {sent}",
                case["format"]
            );
            assert!(
                sent.contains("[SECRET_"),
                "{} ({lang}): {sent}",
                case["format"]
            );
            assert!(
                !content.contains(value),
                "{} ({lang}) was restored into the answer",
                case["format"]
            );
        }
    }

    let lookalikes = fixture["lookalikes"].as_array().unwrap();
    let mut intact = 0;
    for case in lookalikes {
        let value = case["value"].as_str().unwrap();
        for lang in ["en", "es"] {
            let (sent, _) = ask(case[lang].as_str().unwrap().to_string()).await;
            assert!(
                !sent.contains("[SECRET_"),
                "{} ({lang}) taken for a credential: {sent}",
                case["format"]
            );
            if sent.contains(value) {
                intact += 1;
            } else {
                eprintln!(
                    "look-alike {} ({lang}) masked as personal data: {sent}",
                    case["format"]
                );
            }
        }
    }
    eprintln!(
        "look-alikes sent as they are: {intact} of {}",
        lookalikes.len() * 2
    );
}

/// Whatever the upstream answers, the client and the audit log get a
/// parsed, validated, re-identified answer or a described failure, never
/// the upstream's bytes; an event stream answered to a whole-answer call is
/// read as the answer it carries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstreams_raw_body_is_never_echoed() {
    let server = start(ServerSettings::default()).await;
    let marker = "INJECTED-9c41";
    let cases = [
        (
            "text",
            Reply::Raw(200, "text/plain", format!("{marker} Carlos Restrepo 79.845.123")),
        ),
        (
            "HTML",
            Reply::Raw(200, "text/html", format!("<html><body>{marker}</body></html>")),
        ),
        (
            "HTML error page",
            Reply::Raw(403, "text/html", format!("<html><h1>{marker}</h1></html>")),
        ),
        (
            "an error holding personal data",
            Reply::Raw(
                400,
                "application/json",
                json!({"error": {"message": format!("{marker} 4111 1111 1111 1111 ana@example.co"), "type": "invalid_request_error", "param": null, "code": marker}}).to_string(),
            ),
        ),
        (
            "JSON of another shape",
            Reply::Raw(200, "application/json", json!({"result": marker}).to_string()),
        ),
        (
            "events that are not chat chunks",
            Reply::Raw(200, "text/event-stream", format!("data: {{\"text\": \"{marker}\"}}\n\n")),
        ),
    ];
    for (what, reply) in cases {
        server.fake.script([reply]);
        let answer = server
            .chat(
                json!({"model": "sluice/cloud", "messages": [{"role": "user", "content": CLAUSE}]}),
            )
            .await;
        assert_eq!(answer.status, 200, "{what}: {}", answer.text);
        assert!(!answer.text.contains(marker), "{what}: {}", answer.text);
        let degraded = answer.body["sluice"]["degraded"]
            .as_str()
            .unwrap_or_default();
        assert!(
            degraded.contains("bytes, sha256") || degraded.contains("HTTP 4"),
            "{what}: {degraded}"
        );
    }
    let audit = std::fs::read_to_string(server.ws.audit()).unwrap();
    assert!(
        !audit.contains(marker),
        "the audit log holds the upstream's text"
    );

    server.fake.script([Reply::StreamAnyway]);
    let answer = server
        .chat(json!({"model": "sluice/cloud", "messages": [{"role": "user", "content": CLAUSE}]}))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.body["sluice"]["degraded"],
        Value::Null,
        "{}",
        answer.body
    );
    assert_eq!(answer.body["choices"][0]["message"]["content"], CLAUSE);
    intact(&server);
}

/// The `data:` payloads of an SSE body, and when each chunk of bytes that
/// completed one arrived.
async fn events(response: reqwest::Response) -> Vec<(std::time::SystemTime, String)> {
    let mut response = response;
    let mut buffer = String::new();
    let mut out = Vec::new();
    while let Some(bytes) = response.chunk().await.unwrap() {
        let arrived = std::time::SystemTime::now();
        buffer.push_str(&String::from_utf8_lossy(&bytes));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            for line in event.lines() {
                if let Some(data) = line.strip_prefix("data: ") {
                    out.push((arrived, data.to_string()));
                }
            }
        }
    }
    out
}

/// A conversation reaches the cloud turn by turn with its roles; the
/// local model answers a question, honours `max_tokens` and streams its
/// tokens as it makes them (the first content arrives before the answer
/// record, written when generation ended).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_keep_their_roles_and_local_answers_stream_as_made() {
    let server = start(ServerSettings::default()).await;

    // Three turns and a system prompt: four messages, roles kept, the
    // name pseudonymised with one placeholder in every turn.
    let before = server.fake.requests().len();
    let answer = server
        .chat(json!({"model": "sluice/cloud", "messages": [
            {"role": "system", "content": "Answer in Spanish."},
            {"role": "user", "content": "Mi nombre es Carlos Andrés Restrepo Gómez."},
            {"role": "assistant", "content": "Mucho gusto, Carlos Andrés Restrepo Gómez."},
            {"role": "user", "content": "¿Cómo me llamo? Carlos Andrés Restrepo Gómez"}
        ], "max_tokens": 50, "temperature": 0.2}))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let bodies = server.fake.bodies();
    assert_eq!(bodies.len() - before, 1);
    let sent = bodies.last().unwrap();
    let roles: Vec<&str> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"], "{sent}");
    assert_eq!(sent["messages"][0]["content"], "Answer in Spanish.");
    assert_eq!(sent["max_completion_tokens"], 50, "{sent}");
    assert_eq!(sent["temperature"], 0.2, "{sent}");
    let text = sent.to_string();
    assert!(!text.contains("Restrepo"), "{text}");
    let placeholders: Vec<String> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|m| {
            let content = m["content"].as_str().unwrap();
            let start = content
                .find("[PERSON_")
                .unwrap_or_else(|| panic!("{content}"));
            content[start..start + content[start..].find(']').unwrap() + 1].to_string()
        })
        .collect();
    assert!(
        placeholders.iter().all(|p| p == &placeholders[0]),
        "{placeholders:?}"
    );
    // The fake echoes the last turn: re-identified on the way back.
    assert_eq!(
        answer.body["choices"][0]["message"]["content"],
        "¿Cómo me llamo? Carlos Andrés Restrepo Gómez"
    );

    // A question to the local base model gets an answer, not "".
    let answer = server
        .chat(json!({"model": "sluice/local",
            "messages": [{"role": "user", "content": "Count from 1 to 5."}]}))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let content = answer.body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap();
    println!("local: {content:?}");
    assert!(!content.trim().is_empty(), "{}", answer.body);
    assert_eq!(
        answer.body["sluice"]["degraded"],
        Value::Null,
        "{}",
        answer.body
    );

    // max_tokens holds (the embedded model answers in about ten tokens).
    let answer = server
        .chat(json!({"model": "sluice/local", "max_tokens": 6,
            "messages": [{"role": "user", "content": "Count from 1 to 100, separated by commas."}]}))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.body["usage"]["completion_tokens"], 6,
        "{}",
        answer.body
    );
    assert_eq!(
        answer.body["choices"][0]["finish_reason"], "length",
        "{}",
        answer.body
    );

    // Streamed as made.
    let response = server
        .http
        .post(format!("{}/v1/chat/completions", server.url))
        .header("authorization", format!("Bearer {USER_KEY}"))
        .header("x-request-id", "stream-local-1")
        .json(
            &json!({"model": "sluice/local", "stream": true, "max_tokens": 48,
            "messages": [{"role": "user", "content": "Count from 1 to 20, separated by commas."}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let events = events(response).await;
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks: Vec<(std::time::SystemTime, Value)> = events[..events.len() - 1]
        .iter()
        .map(|(at, data)| (*at, serde_json::from_str(data).unwrap()))
        .collect();
    let content: Vec<&(std::time::SystemTime, Value)> = chunks
        .iter()
        .filter(|(_, c)| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        })
        .collect();
    assert!(content.len() > 3, "{chunks:?}");
    let last = &chunks.last().unwrap().1;
    assert_eq!(last["sluice"]["route"], "local", "{last}");
    let records = audited(&server, "stream-local-1").await;
    let answered = records.iter().find(|r| r["kind"] == "answer").unwrap();
    let answered_at = record_time(answered);
    assert!(
        content[0].0 < answered_at,
        "the first token arrived at {:?}, after the answer was finished at {answered_at:?}",
        content[0].0
    );
    let route = records.iter().find(|r| r["kind"] == "route").unwrap();
    assert!(route["seq"].as_u64() < answered["seq"].as_u64());

    // A schema answer of the local policy streams as the constrained model
    // writes it, and is the same record as the answer sent whole.
    let format = json!({"type": "json_schema", "json_schema": {"name": "contact", "strict": true, "schema": {
        "type": "object", "additionalProperties": false, "required": ["intent", "city"],
        "properties": {"intent": {"enum": ["appointment", "billing", "complaint", "other"]},
                       "city": {"type": "string", "maxLength": 40}}}}});
    let ask = |stream: bool| {
        json!({"model": "sluice/local", "stream": stream, "response_format": format,
            "messages": [{"role": "user", "content": "Quiero una cita con un abogado en Medellín el martes."}]})
    };
    let whole = server.chat(ask(false)).await;
    assert_eq!(whole.status, 200, "{}", whole.text);
    let record: Value = serde_json::from_str(
        whole.body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let response = server
        .http
        .post(format!("{}/v1/chat/completions", server.url))
        .header("authorization", format!("Bearer {USER_KEY}"))
        .header("x-request-id", "stream-schema-1")
        .json(&ask(true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let streamed_events = self::events(response).await;
    assert_eq!(streamed_events.last().unwrap().1, "[DONE]");
    let pieces: Vec<(std::time::SystemTime, String)> = streamed_events[..streamed_events.len() - 1]
        .iter()
        .filter_map(|(at, data)| {
            let chunk: Value = serde_json::from_str(data).unwrap();
            let text = chunk["choices"][0]["delta"]["content"]
                .as_str()?
                .to_string();
            (!text.is_empty()).then_some((*at, text))
        })
        .collect();
    let streamed = streamed_text(&streamed_events);
    println!("streamed record in {} pieces: {streamed}", pieces.len());
    assert_eq!(serde_json::from_str::<Value>(&streamed).unwrap(), record);
    assert!(pieces.len() > 3, "token by token: {pieces:?}");
    let records = audited(&server, "stream-schema-1").await;
    let answered_at = record_time(records.iter().find(|r| r["kind"] == "answer").unwrap());
    assert!(
        pieces[0].0 < answered_at,
        "the first piece arrived at {:?}, after the record was finished at {answered_at:?}",
        pieces[0].0
    );

    intact(&server);
}

/// One response from a raw HTTP/1.1 connection: status and body.
async fn read_response(socket: &mut tokio::net::TcpStream, buffer: &mut Vec<u8>) -> (u16, String) {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .expect("a content-length");
            while buffer.len() < end + 4 + length {
                let mut more = [0u8; 4096];
                let read = socket.read(&mut more).await.unwrap();
                assert!(read > 0, "the server closed the connection mid-body");
                buffer.extend_from_slice(&more[..read]);
            }
            let body = String::from_utf8_lossy(&buffer[end + 4..end + 4 + length]).into_owned();
            buffer.drain(..end + 4 + length);
            let status = head[9..12].parse().unwrap();
            return (status, body);
        }
        let mut more = [0u8; 4096];
        let read = socket.read(&mut more).await.unwrap();
        assert!(
            read > 0,
            "the server closed the connection without a response"
        );
        buffer.extend_from_slice(&more[..read]);
    }
}

/// A thousand requests with a wrong key, one after another on one
/// keep-alive connection, each body sent a moment after its head: every one
/// gets its whole 401, and the connection then still serves a request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_keys_on_one_keep_alive_connection_all_get_their_401() {
    let server = start(ServerSettings::default()).await;
    let mut socket = tokio::net::TcpStream::connect(server.url.trim_start_matches("http://"))
        .await
        .unwrap();
    socket.set_nodelay(true).unwrap();
    let body = json!({"model": "sluice/local", "messages": [{"role": "user", "content": CLAUSE}]})
        .to_string();
    let mut buffer = Vec::new();
    for i in 0..1000 {
        let head = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer sk-wrong-{i}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        // The body a moment after the head, as a client writing it
        // separately does: the answer must still wait for it.
        socket.write_all(head.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
        socket.write_all(body.as_bytes()).await.unwrap();
        let (status, answer) = read_response(&mut socket, &mut buffer).await;
        assert_eq!(status, 401, "request {i}: {answer}");
        assert!(answer.contains("invalid_api_key"), "request {i}: {answer}");
    }
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut socket, &mut buffer).await.0, 200);
}

/// The Responses API through the official openai client and the Messages
/// API through the official anthropic client: text, conversations,
/// streaming, schemas, refusals in each API's own error shape; no raw
/// personal data reaches the cloud from either. Without max_tokens or with
/// a wrong `x-api-key`, Messages answers in Anthropic's shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_responses_and_messages_apis_work_with_the_official_clients() {
    let server = start(ServerSettings::default()).await;
    python("responses_client.py", &server, &[("SLUICE_CLAUSE", CLAUSE)]);
    python("anthropic_client.py", &server, &[("SLUICE_CLAUSE", CLAUSE)]);
    let sent = server.cloud_received();
    assert!(sent.contains("[PERSON_1]"), "{sent}");
    for raw in [
        "Carlos Andrés Restrepo Gómez",
        "79.845.123",
        "carlos.restrepo@example.co",
        "900.123.456-7",
    ] {
        assert!(!sent.contains(raw), "{raw} reached the cloud");
    }
    let roles: Vec<Vec<String>> = server
        .fake
        .bodies()
        .iter()
        .map(|b| {
            b["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["role"].as_str().unwrap().to_string())
                .collect()
        })
        .collect();
    assert!(
        roles.contains(&vec![
            "system".to_string(),
            "user".into(),
            "assistant".into(),
            "user".into()
        ]),
        "{roles:?}"
    );
    let raw = |headers: Vec<(&'static str, String)>, body: Value| {
        let mut request = server
            .http
            .post(format!("{}/v1/messages", server.url))
            .json(&body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    let missing = raw(
        vec![("x-api-key", USER_KEY.to_string())],
        json!({"model": "sluice/local", "messages": [{"role": "user", "content": "x"}]}),
    )
    .await
    .unwrap();
    assert_eq!(missing.status(), 400);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_tokens"),
        "{body}"
    );
    let wrong = raw(
        vec![("x-api-key", "sk-wrong".to_string())],
        json!({"model": "sluice/local", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}),
    )
    .await
    .unwrap();
    assert_eq!(wrong.status(), 401);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"]["type"], "authentication_error", "{body}");
    intact(&server);
}

/// The arguments of the tool calls in a chat SSE body, joined per call.
fn streamed_calls(events: &[(std::time::SystemTime, String)]) -> Vec<(String, String)> {
    let mut calls: Vec<(String, String)> = Vec::new();
    for (_, data) in events {
        let Ok(chunk) = serde_json::from_str::<Value>(data) else {
            continue;
        };
        for call in chunk["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let index = call["index"].as_u64().unwrap() as usize;
            if calls.len() <= index {
                calls.resize(index + 1, (String::new(), String::new()));
            }
            if let Some(name) = call["function"]["name"].as_str() {
                calls[index].0.push_str(name);
            }
            if let Some(piece) = call["function"]["arguments"].as_str() {
                calls[index].1.push_str(piece);
            }
        }
    }
    calls
}

/// Tool calls in both directions. To the cloud: definitions pass, personal
/// data in the conversation, in an assistant's call arguments and in a
/// tool's result is pseudonymised; the cloud's call comes back with its
/// arguments re-identified exactly, whole and streamed with the arguments
/// cut at every offset. From the local model: a call that validates against
/// its function's parameters, whole and streamed. A policy that keeps tool
/// traffic local does. Bad tool input is a 400 that names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_are_pseudonymised_out_and_restored_back() {
    let ws = Workspace::new(&[(
        "private-tools",
        "pattern = \"cloud\"\n[anonymiser]\nplugin = \"pii-detector\"\n[privacy]\nlocal_tool_calls = true\n",
    )]);
    let server = start_in(ws, ServerSettings::default()).await;
    let lookup = json!([{"type": "function", "function": {"name": "lookup", "description": "Look a text up.",
        "parameters": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}}]);
    let raws = [
        "Carlos Andrés Restrepo Gómez",
        "79.845.123",
        "carlos.restrepo@example.co",
        "900.123.456-7",
    ];

    // Whole: the cloud calls lookup with what the user said.
    let before = server.fake.bodies().len();
    let answer = server
        .chat(
            json!({"model": "sluice/cloud", "tools": lookup, "parallel_tool_calls": false,
            "messages": [{"role": "user", "content": CLAUSE}]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let choice = &answer.body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{}", answer.body);
    assert_eq!(choice["message"]["content"], Value::Null);
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "lookup");
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments["text"], CLAUSE);
    let sent = &server.fake.bodies()[before];
    assert_eq!(sent["tools"][0]["function"]["name"], "lookup", "{sent}");
    assert_eq!(sent["parallel_tool_calls"], false, "{sent}");

    // The round trip: the call and the tool's result go back pseudonymised;
    // the answer (the fake echoes the result) comes back whole.
    let result = format!("Found: {CLAUSE}");
    let answer = server
        .chat(json!({"model": "sluice/cloud", "tools": lookup, "messages": [
            {"role": "user", "content": CLAUSE},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "lookup", "arguments": json!({"text": CLAUSE}).to_string()}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": result}]}))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["choices"][0]["message"]["content"], result);
    let sent = server.fake.bodies().last().unwrap().clone();
    assert_eq!(sent["messages"][2]["role"], "tool", "{sent}");
    assert_eq!(sent["messages"][2]["tool_call_id"], "call_1", "{sent}");
    let arguments = sent["messages"][1]["tool_calls"][0]["function"]["arguments"]
        .as_str()
        .unwrap();
    assert!(arguments.contains("[PERSON_1]"), "{arguments}");

    // Streamed, the arguments cut at every offset and in one-character
    // pieces: each call comes back exactly.
    let mut cuts: Vec<crate::fake_cloud::Chunks> =
        (0..200).map(crate::fake_cloud::Chunks::At).collect();
    cuts.push(crate::fake_cloud::Chunks::Size(1));
    for cut in cuts {
        server.fake.chunk(cut);
        let response = server
            .http
            .post(format!("{}/v1/chat/completions", server.url))
            .header("authorization", format!("Bearer {USER_KEY}"))
            .json(
                &json!({"model": "sluice/cloud", "stream": true, "tools": lookup,
                "messages": [{"role": "user", "content": CLAUSE}]}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{cut:?}");
        let events = events(response).await;
        let calls = streamed_calls(&events);
        assert_eq!(calls.len(), 1, "{cut:?}: {events:?}");
        assert_eq!(calls[0].0, "lookup");
        let arguments: Value = serde_json::from_str(&calls[0].1)
            .unwrap_or_else(|e| panic!("{cut:?}: {e}: {}", calls[0].1));
        assert_eq!(arguments["text"], CLAUSE, "{cut:?}");
    }
    let sent = server.cloud_received();
    for raw in raws {
        assert!(!sent.contains(raw), "{raw} reached the cloud");
    }

    // The local model calls a function by constrained decoding: the call
    // validates against the function's parameters, whole and streamed.
    // Unbounded on purpose: the call must still end.
    let weather = json!([{"type": "function", "function": {"name": "weather", "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]);
    let validator = jsonschema::validator_for(&weather[0]["function"]["parameters"]).unwrap();
    let ask = json!({"model": "sluice/local", "tools": weather, "tool_choice": "required",
        "messages": [{"role": "user", "content": "What is the weather in Cali?"}]});
    let answer = server.chat(ask.clone()).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.body["choices"][0]["finish_reason"], "tool_calls",
        "{}",
        answer.body
    );
    let call = &answer.body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "weather");
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert!(validator.is_valid(&arguments), "{arguments}");
    let mut streamed = ask.clone();
    streamed["stream"] = json!(true);
    let response = server
        .http
        .post(format!("{}/v1/chat/completions", server.url))
        .header("authorization", format!("Bearer {USER_KEY}"))
        .json(&streamed)
        .send()
        .await
        .unwrap();
    let calls = streamed_calls(&events(response).await);
    assert_eq!(calls[0].0, "weather");
    assert!(validator.is_valid(&serde_json::from_str(&calls[0].1).unwrap()));

    // A policy that keeps tool traffic local answers without the cloud.
    let before = server.fake.requests().len();
    let answer = server
        .chat(
            json!({"model": "sluice/private-tools", "tools": weather, "tool_choice": "required",
            "messages": [{"role": "user", "content": CLAUSE}]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["sluice"]["answered_by"], "local");
    assert_eq!(server.fake.requests().len(), before);

    // Bad tool input.
    for (body, status, code) in [
        (
            json!({"model": "sluice/local", "tools": weather, "tool_choice": {"type": "function", "function": {"name": "time"}},
                "messages": [{"role": "user", "content": "x"}]}),
            400,
            "unknown_tool",
        ),
        (
            json!({"model": "sluice/local", "messages": [{"role": "user", "content": "x"},
                {"role": "tool", "tool_call_id": "nope", "content": "42"}]}),
            400,
            "unknown_tool_call",
        ),
        (
            json!({"model": "sluice/local", "tools": [{"type": "function", "function": {"name": "w",
                "parameters": {"type": "object", "properties": {"x": {"type": 7}}}}}],
                "messages": [{"role": "user", "content": "x"}]}),
            400,
            "invalid_tool_schema",
        ),
        (
            json!({"model": "sluice/contract-triage", "tools": weather,
                "messages": [{"role": "user", "content": "x"}]}),
            422,
            "invalid_response_format",
        ),
    ] {
        let answer = server.chat(body).await;
        assert_eq!(answer.status, status, "{code}: {}", answer.text);
        assert_eq!(answer.body["error"]["code"], code, "{}", answer.text);
    }
    assert_eq!(server.send("GET", "/healthz", None, None).await.status, 200);
    intact(&server);
}

/// The official openai npm client: chat streamed from the local model, the
/// cloud re-identified, tool calls whole and streamed (cloud) and held to
/// their schema (local), the Responses API whole and streamed, errors as
/// its own types.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_javascript_client_works_unchanged() {
    let server = start(ServerSettings::default()).await;
    let output = Command::new("node")
        .arg(root().join("tests/js/openai_client.mjs"))
        .env("SLUICE_URL", &server.url)
        .env("SLUICE_KEY", USER_KEY)
        .env("SLUICE_CLAUSE", CLAUSE)
        .output()
        .expect("node");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{text}");
    assert!(output.status.success(), "openai_client.mjs failed:\n{text}");
    let sent = server.cloud_received();
    for raw in ["Carlos Andrés Restrepo Gómez", "79.845.123"] {
        assert!(!sent.contains(raw), "{raw} reached the cloud");
    }
    intact(&server);
}

/// The text of an SSE answer, whichever API wrote it: chat deltas,
/// Responses `output_text` deltas, Messages `text_delta`s.
/// When an audit record was written.
fn record_time(record: &Value) -> std::time::SystemTime {
    humantime::parse_rfc3339(record["time"].as_str().unwrap()).unwrap()
}

fn streamed_text(events: &[(std::time::SystemTime, String)]) -> String {
    let mut text = String::new();
    for (_, data) in events {
        let Ok(event) = serde_json::from_str::<Value>(data) else {
            continue;
        };
        let piece = if event["object"] == "chat.completion.chunk" {
            &event["choices"][0]["delta"]["content"]
        } else if event["type"] == "response.output_text.delta" {
            &event["delta"]
        } else if event["type"] == "content_block_delta" {
            &event["delta"]["text"]
        } else {
            continue;
        };
        text.push_str(piece.as_str().unwrap_or_default());
    }
    text
}

/// Labelled Spanish and Portuguese sentences from
/// `../shared/eval/pii/latam_dev.jsonl` through a cloud policy in their
/// language on all three APIs, whole and streamed (the fake
/// cutting its stream at a different offset each time, and at every offset
/// for one sentence), as user turns, tool-call arguments and tool results:
/// every answer comes back exactly, and no value of a type the detector
/// covers fully (persons, e-mails, phones, IDs, accounts, dates) reaches the
/// cloud in any byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eval_sentences_stay_private_on_all_three_apis() {
    // The privacy test's types, less the US social security number and IP
    // addresses, which this test has never asserted.
    let asserted: Vec<&str> = crate::privacy::ASSERTED
        .iter()
        .copied()
        .filter(|t| !["US_SSN", "IP_ADDRESS"].contains(t))
        .collect();
    // The cloud policy reads Spanish; its twin reads Portuguese.
    let ws = Workspace::new(&[(
        "cloud-pt",
        "pattern = \"cloud\"\nlang = \"pt\"\n[anonymiser]\nplugin = \"pii-detector\"\n",
    )]);
    let server = start_in(ws, ServerSettings::default()).await;
    let path = root().join("../shared/eval/pii/latam_dev.jsonl");
    let all: Vec<Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .collect();
    let in_lang = |lang: &str, n: usize| {
        all.iter()
            .filter(|s| s["lang"] == lang)
            .take(n)
            .cloned()
            .collect::<Vec<Value>>()
    };
    let sentences: Vec<Value> = in_lang("es", 16)
        .into_iter()
        .chain(in_lang("pt", 8))
        .collect();
    let tools = json!([{"type": "function", "function": {"name": "lookup",
        "parameters": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}}]);
    let post = |path: &str, body: Value| {
        server
            .http
            .post(format!("{}{path}", server.url))
            .header("authorization", format!("Bearer {USER_KEY}"))
            .json(&body)
            .send()
    };
    let mut offset = 0;
    for (i, sentence) in sentences.iter().enumerate() {
        let text = sentence["text"].as_str().unwrap();
        let model = if sentence["lang"] == "pt" {
            "sluice/cloud-pt"
        } else {
            "sluice/cloud"
        };
        let user = json!([{"role": "user", "content": text}]);
        let cuts: Vec<usize> = if i == 0 {
            (0..text.len()).collect()
        } else {
            vec![i]
        };
        for cut in cuts {
            offset += 1;
            server.fake.chunk(crate::fake_cloud::Chunks::At(
                (cut + offset) % text.len().max(1),
            ));
            for (path, body) in [
                (
                    "/v1/chat/completions",
                    json!({"model": model, "stream": true, "messages": user}),
                ),
                (
                    "/v1/responses",
                    json!({"model": model, "stream": true, "input": text}),
                ),
                (
                    "/v1/messages",
                    json!({"model": model, "stream": true, "max_tokens": 512, "messages": user}),
                ),
            ] {
                let response = post(path, body).await.unwrap();
                assert_eq!(response.status(), 200, "{path}");
                assert_eq!(
                    streamed_text(&events(response).await),
                    text,
                    "{path}, cut {cut}"
                );
            }
            let response = post(
                "/v1/chat/completions",
                json!({"model": model, "stream": true, "tools": tools, "messages": user}),
            )
            .await
            .unwrap();
            let calls = streamed_calls(&events(response).await);
            let arguments: Value = serde_json::from_str(&calls[0].1).unwrap();
            assert_eq!(arguments["text"], text, "streamed call, cut {cut}");
        }
        // Whole, on each API; and the sentence as a tool's result.
        let chat = server.chat(json!({"model": model, "messages": user})).await;
        assert_eq!(chat.body["choices"][0]["message"]["content"], text);
        let responses = post("/v1/responses", json!({"model": model, "input": text}))
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        assert_eq!(responses["output"][0]["content"][0]["text"], text);
        let messages = post(
            "/v1/messages",
            json!({"model": model, "max_tokens": 512, "messages": user}),
        )
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
        assert_eq!(messages["content"][0]["text"], text);
        let result = server
            .chat(json!({"model": model, "tools": tools, "messages": [
                {"role": "user", "content": "Look it up."},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "lookup", "arguments": json!({"text": text}).to_string()}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": text}]}))
            .await;
        assert_eq!(result.body["choices"][0]["message"]["content"], text);
    }
    let sent = server.cloud_received();
    let mut unasserted = 0;
    for sentence in &sentences {
        for span in sentence["spans"].as_array().unwrap() {
            let value = span["value"].as_str().unwrap();
            if sent.contains(value) {
                let kind = span["type"].as_str().unwrap();
                assert!(
                    !asserted.contains(&kind),
                    "{kind} {value:?} reached the cloud"
                );
                unasserted += 1;
            }
        }
    }
    eprintln!("values of other types sent unchanged: {unasserted}");
    intact(&server);
}
