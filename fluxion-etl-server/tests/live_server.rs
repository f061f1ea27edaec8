//! `fluxion-server` as a real process on loopback, with the KLK simulator and PostgreSQL behind
//! it: a manual run started over HTTP, polled to completion, visible in the history with its
//! per-store detail, its log lines visible by polling and on the SSE stream; SIGTERM while a
//! load hangs records it as interrupted.

// Test helpers outside #[test] functions panic on purpose: a failed setup is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fluxion_etl_core::loaders::Destination;
use fluxion_etl_core::model::store_yesterday;
use fluxion_etl_sim::demo::{Demo, DemoOptions};
use fluxion_etl_sim::klk::{Fault, FaultRule, KlkSimConfig};
use fluxion_etl_sim::postgres::TestPostgres;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const ADMIN: &str = "live-admin-token";
const VIEWER: &str = "live-viewer-token";

struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Server {
    /// Starts the binary on a free loopback port and waits for its "listening" line.
    async fn start(config: &std::path::Path, dir: &std::path::Path, extra: &[&str]) -> Server {
        let log = dir.join(format!("server-{}.log", rand_suffix()));
        let mut child = Command::new(env!("CARGO_BIN_EXE_fluxion-server"))
            .arg("--config")
            .arg(config)
            .args(["--bind", "127.0.0.1:0"])
            .args(extra)
            .env("FLUXION_ADMIN_TOKENS", ADMIN)
            .env("FLUXION_VIEWER_TOKENS", VIEWER)
            .env("RUST_LOG", "info")
            .env_remove("DATABASE_URL")
            .env_remove("FLUXION_CONFIG")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the server printed nothing in 30 s")
            .unwrap()
            .unwrap_or_else(|| {
                panic!(
                    "the server exited: {}",
                    std::fs::read_to_string(&log).unwrap()
                )
            });
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_owned();
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        Server { child, base, log }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then the exit status.
    async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().unwrap();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("the server did not exit within 60 s of SIGTERM")
            .unwrap()
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

/// A fresh PostgreSQL database, migrated, and a config file pointing the demo's stores at the
/// in-process KLK simulator and loading into that database.
async fn setup(
    stores: &[&str],
    klk: KlkSimConfig,
    scheduler_enabled: bool,
) -> (Demo, tempfile::TempDir, PathBuf, String) {
    let url = TestPostgres::shared()
        .await
        .expect("a test PostgreSQL server")
        .create_database()
        .await
        .expect("a fresh test database");
    let destination = Destination::connect(&url).await.unwrap();
    destination.migrate().await.unwrap();
    destination.close().await;
    let dir = tempfile::tempdir().unwrap();
    let mut options = DemoOptions::new(dir.path().join("unused.db"));
    options.stores = Some(stores.iter().map(|s| s.to_string()).collect());
    options.klk = klk;
    let demo = Demo::start(options).await.unwrap();
    let mut config = demo.config().clone();
    config.destination.url = url.clone();
    config.batch.request_timeout_secs = 5;
    // A scheduled slot falling inside a test would add runs the test does not expect.
    config.schedule.enabled = scheduler_enabled;
    let path = dir.path().join("fluxion.toml");
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    (demo, dir, path, url)
}

fn small_klk() -> KlkSimConfig {
    KlkSimConfig {
        lines_per_day: (40, 60),
        articles: 200,
        ..KlkSimConfig::default()
    }
}

fn branch_of(klk: &KlkSimConfig, store: &str) -> String {
    klk.stores
        .iter()
        .find(|b| b.store_id == store)
        .unwrap()
        .branch
        .clone()
}

#[tokio::test]
async fn a_manual_run_over_http_with_its_logs_polled_and_streamed() {
    // tienda_02's first answer breaks mid-body: the extractor's retry warning is one of the
    // execution's lines (it carries no execution id itself; the runner's store span does).
    let mut klk = small_klk();
    klk.faults = vec![FaultRule::new(Fault::ResetMidBody { after_bytes: 300 })
        .for_branch(branch_of(&klk, "tienda_02"))
        .times(1)];
    let (_demo, dir, config, _url) = setup(&["tienda_01", "tienda_02"], klk, false).await;
    let server = Server::start(&config, dir.path(), &[]).await;
    let http = reqwest::Client::new();

    // Ready, and the stream is open before the run starts.
    let ready = http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "{}", server.stderr());
    let stream = http
        .get(server.url("/api/etl/ventas/logs/stream"))
        .bearer_auth(VIEWER)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(
        stream.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let streamed = tokio::spawn(async move {
        let mut body = stream.bytes_stream();
        let mut text = String::new();
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if text.contains("Execution finished") {
                break;
            }
        }
        text
    });

    let y = store_yesterday();
    let res = http
        .post(server.url("/api/etl/run"))
        .bearer_auth(ADMIN)
        .json(&json!({
            "etl_name": "ventas",
            "tienda_ids": ["tienda_01", "tienda_02"],
            "fecha_inicio": format!("{y} 00:00:00"),
            "fecha_fin": format!("{y} 23:59:59"),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let started: Value = res.json().await.unwrap();
    let id = started["execution_id"].as_i64().unwrap();

    // Polled to completion.
    let mut detail = Value::Null;
    for _ in 0..600 {
        detail = http
            .get(server.url(&format!("/api/etl/history/{id}")))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if detail["status"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(detail["status"], "success", "{detail}\n{}", server.stderr());
    assert_eq!(detail["triggered_by"], "fluxion_admin");
    let stores = detail["tiendas_detail"].as_array().unwrap();
    assert_eq!(stores.len(), 2);
    for s in stores {
        assert_eq!(s["status"], "success");
        assert!(s["records_loaded"].as_i64().unwrap() > 0, "{s}");
        assert_eq!(s["source_system"], "klk");
    }

    // In the history, filtered by origin.
    let list: Value = http
        .get(server.url("/api/etl/history?triggered_by=fluxion_admin&etl_name=ventas"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["id"], id);
    assert_eq!(list[0]["tiendas_exitosas"], 2);

    // Its log lines by polling: start, each store, finish; `since` then returns nothing new.
    // The database says finished a moment before the tracker logs it: wait for the line.
    let mut logs = Value::Null;
    for _ in 0..200 {
        logs = http
            .get(server.url(&format!("/api/etl/ventas/logs?execution_id={id}")))
            .bearer_auth(VIEWER)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if logs["running"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let messages: Vec<&str> = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert!(
        messages.iter().any(|m| m.starts_with("Execution started")),
        "{messages:?}"
    );
    for store in ["tienda_01", "tienda_02"] {
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("Store finished") && m.contains(store)),
            "{store} missing in {messages:?}"
        );
    }
    assert!(
        messages.last().unwrap().starts_with("Execution finished"),
        "{messages:?}"
    );
    let retry = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["level"] == "warning")
        .unwrap_or_else(|| panic!("no retry warning in {messages:?}"));
    assert_eq!(retry["store"], "tienda_02", "{retry}");
    assert!(
        retry["message"].as_str().unwrap().contains("retrying"),
        "{retry}"
    );
    assert_eq!(logs["status"], "success");
    let next = logs["next_since"].as_u64().unwrap();
    let newer: Value = http
        .get(server.url(&format!("/api/etl/ventas/logs?since={next}")))
        .bearer_auth(VIEWER)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(newer["logs"], json!([]));
    assert_eq!(newer["execution_id"], id);

    // The same lines on the stream.
    let text = tokio::time::timeout(Duration::from_secs(10), streamed)
        .await
        .expect("the stream did not deliver the run's end")
        .unwrap();
    assert!(text.contains("event: log"), "{text}");
    assert!(text.contains("Execution started"), "{text}");
    assert!(
        text.contains("tienda_01") && text.contains("tienda_02"),
        "{text}"
    );

    // Metrics saw it (counted once the finished execution is read back).
    let mut metrics = String::new();
    for _ in 0..200 {
        metrics = http
            .get(server.url("/metrics"))
            .bearer_auth(VIEWER)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.contains("fluxion_runs_total{") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        metrics.contains("fluxion_runs_total{etl_name=\"ventas\",status=\"success\"} 1"),
        "{metrics}"
    );

    let status = server.terminate().await;
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn sigterm_lets_a_short_grace_pass_then_records_the_hung_load_as_interrupted() {
    let mut klk = small_klk();
    klk.faults = vec![FaultRule::new(Fault::Hang).for_branch(branch_of(&klk, "tienda_02"))];
    let (_demo, dir, config, url) = setup(&["tienda_01", "tienda_02"], klk, false).await;
    let server = Server::start(&config, dir.path(), &["--shutdown-grace-secs", "1"]).await;
    let http = reqwest::Client::new();
    let y = store_yesterday();
    let started: Value = http
        .post(server.url("/api/etl/sync/ventas"))
        .bearer_auth(ADMIN)
        .json(&json!({ "fecha_inicio": y.to_string(), "fecha_fin": y.to_string() }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = started["execution_id"].as_i64().unwrap();
    // Wait until tienda_01 is done and only the hung store is left.
    for _ in 0..600 {
        let v: Value = http
            .get(server.url(&format!("/api/etl/history/{id}")))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["tiendas_detail"]
            .as_array()
            .is_some_and(|d| !d.is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A client following the live log does not hold the shutdown up: its stream ends.
    let follower = http
        .get(server.url("/api/etl/ventas/logs/stream"))
        .bearer_auth(VIEWER)
        .send()
        .await
        .unwrap();
    assert_eq!(follower.status(), 200);
    let follow = tokio::spawn(async move {
        let mut body = follower.bytes_stream();
        while let Some(Ok(_)) = body.next().await {}
    });
    let log = server.log.clone();
    let status = server.terminate().await;
    tokio::time::timeout(Duration::from_secs(10), follow)
        .await
        .expect("the log stream did not end with the server")
        .unwrap();
    let stderr = std::fs::read_to_string(log).unwrap_or_default();
    assert!(status.success(), "{status}\n{stderr}");

    let destination = Destination::connect(&url).await.unwrap();
    let view = destination
        .tracker_store()
        .execution(id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.status, "partial", "{view:?}");
    let hung = view
        .tiendas_detail
        .iter()
        .find(|d| d.tienda_id == "tienda_02")
        .unwrap();
    assert_eq!(hung.status, "failed");
    assert_eq!(
        hung.error_category.as_deref(),
        Some("interrupted"),
        "{hung:?}"
    );
    let done = view
        .tiendas_detail
        .iter()
        .find(|d| d.tienda_id == "tienda_01")
        .unwrap();
    assert_eq!(done.status, "success");
    assert!(stderr.contains("interrupting"), "{stderr}");
}

#[tokio::test]
async fn demo_prints_its_url_and_generated_tokens_that_work() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fluxion-server"))
        .args(["--demo", "--bind", "127.0.0.1:0", "--demo-db"])
        .arg(dir.path().join("demo.db"))
        .env_remove("FLUXION_ADMIN_TOKENS")
        .env_remove("FLUXION_VIEWER_TOKENS")
        .env_remove("DATABASE_URL")
        .env_remove("FLUXION_CONFIG")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await
    {
        let done = line.contains("open: ");
        printed.push(line);
        if done {
            break;
        }
    }
    let text = printed.join("\n");
    let field = |key: &str| {
        printed
            .iter()
            .find_map(|l| l.trim().strip_prefix(key).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("no `{key}` in:\n{text}"))
    };
    let admin = field("admin token:");
    let viewer = field("viewer token:");
    let open = field("open:");
    assert!(open.starts_with("http://127.0.0.1:"), "{text}");
    assert!(open.ends_with(&format!("/#token={admin}")), "{text}");
    assert!(
        text.contains("KLK simulator at http://127.0.0.1:"),
        "{text}"
    );
    let base = open.split("/#").next().unwrap().to_owned();

    let http = reqwest::Client::new();
    let history = http
        .get(format!("{base}/api/etl/history"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(history.status(), 200);
    let as_viewer = http
        .get(format!("{base}/api/etl/history"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(as_viewer.status(), 403);
    let page = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);

    // Guessing tokens from one address is cut off: after the allowed failures, even the right
    // token gets 429 from that address until the window passes.
    let limit = fluxion_etl_server::auth::MAX_FAILED_ATTEMPTS;
    for _ in 0..limit {
        let guess = http
            .get(format!("{base}/api/etl/history"))
            .bearer_auth("a-guess")
            .send()
            .await
            .unwrap();
        assert_eq!(guess.status(), 401);
    }
    let blocked = http
        .get(format!("{base}/api/etl/history"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(blocked.status(), 429);
    assert!(blocked.headers().contains_key("retry-after"));
    let pid = child.id().unwrap();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn scheduler_settings_and_disable_survive_a_restart() {
    let (_demo, dir, config, _url) = setup(&["tienda_01"], small_klk(), true).await;
    let http = reqwest::Client::new();
    let server = Server::start(&config, dir.path(), &[]).await;
    let ready: Value = http
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["scheduler"], "alive", "{ready}");
    let status: Value = http
        .get(server.url("/api/etl/scheduler/status"))
        .bearer_auth(VIEWER)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["enabled"], true, "{status}");
    assert_eq!(status["config"]["execution_hour"], 5);
    let res = http
        .put(server.url("/api/etl/scheduler/config"))
        .bearer_auth(ADMIN)
        .json(&json!({
            "execution_hour": 6, "execution_minute": 30,
            "retry_interval_minutes": 15, "max_retries": 5
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = http
        .post(server.url("/api/etl/scheduler/disable"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(server.terminate().await.success());

    // Same configuration file, new process: the settings and the switch come from the database.
    let server = Server::start(&config, dir.path(), &[]).await;
    let status: Value = http
        .get(server.url("/api/etl/scheduler/status"))
        .bearer_auth(VIEWER)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["enabled"], false, "{status}");
    assert_eq!(status["next_run"], Value::Null);
    assert_eq!(status["config"]["execution_hour"], 6);
    assert_eq!(status["config"]["execution_minute"], 30);
    assert_eq!(status["config"]["max_retries"], 5);
    assert_eq!(status["config"]["retry_interval_minutes"], 15);
    assert!(server.terminate().await.success());
}
