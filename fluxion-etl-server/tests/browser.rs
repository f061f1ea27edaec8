//! End to end, in a real browser: `fluxion-server --demo` (the KLK simulator in-process, a
//! SQLite file, loopback only) and Debian's headless `chromium` driven through `chromedriver`.
//!
//! The operator's morning: open the URL `--demo` prints (`/#token=…` signs in), see the stores
//! in the gaps table and the connectivity panel, fill the run form with a store's recommended
//! dates (*Update*), start the run, watch its log lines arrive, open its detail, find it in the
//! history. Along the way: the scheduler toggle, the history filter, keyboard tabs, the
//! statistics, the language switch, the requests the page made (documented API only), no console
//! errors, a wrong token (401 → sign-in form), a viewer token (403 explained), and the server
//! going away (a readable "cannot reach the server" banner). Screenshots land in
//! `target/test-artifacts/`.
//!
//! Chromium and chromedriver come from `scripts/install-test-deps.sh` (Debian packages
//! `chromium`, `chromium-driver`); without them this test fails and says so.

#[path = "browser/webdriver.rs"]
mod webdriver;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use fluxion_etl_server::openapi;
use serde_json::{json, Value};
use webdriver::{browser_paths, Driver, Session};

/// `fluxion-server --demo`, killed on drop.
struct Server {
    child: Child,
    url: String,
    base: String,
}

impl Server {
    fn start(dir: &Path, token: &str, viewer: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fluxion-server"))
            .args(["--demo", "--bind", "127.0.0.1:0", "--demo-db"])
            .arg(dir.join("demo.db"))
            // The scheduler's state is served (the panel and its toggle are tested), but its loop
            // stays off: a catch-up of the 05:00 run at start-up would load the stores behind
            // the test's back (no Update recommendation left, leases held during the manual run).
            .arg("--no-scheduler")
            .current_dir(dir)
            .env("FLUXION_ADMIN_TOKENS", token)
            .env("FLUXION_VIEWER_TOKENS", viewer)
            .env_remove("FLUXION_CONFIG")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start fluxion-server --demo");
        let stdout = child.stdout.take().expect("server stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut printed = Vec::new();
        let url = loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    if let Some(url) = line.trim().strip_prefix("open: ") {
                        break url.to_owned();
                    }
                    printed.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("fluxion-server --demo printed no `open:` URL; it printed {printed:#?}");
                }
            }
        };
        assert!(
            url.starts_with("http://127.0.0.1:") && url.ends_with(&format!("/#token={token}")),
            "the demo URL is on loopback and carries the token: {url}"
        );
        let base = url.split("/#").next().unwrap_or_default().to_owned();
        Server { child, url, base }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn artifacts_dir() -> PathBuf {
    // The workspace's target folder (a relative CARGO_TARGET_DIR is relative to the workspace,
    // where cargo runs; a test runs in its crate's folder).
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| {
            if t.is_absolute() {
                t
            } else {
                workspace.join(t)
            }
        })
        .unwrap_or_else(|| workspace.join("target"));
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).expect("create target/test-artifacts");
    dir
}

async fn save_screenshot(session: &Session, name: &str) -> PathBuf {
    let png = session.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
    let path = artifacts_dir().join(name);
    std::fs::write(&path, png).expect("write the screenshot");
    eprintln!("screenshot: {}", path.display());
    path
}

/// Whether `path` (`/api/etl/history/42`) is an instance of a documented template
/// (`/api/etl/history/{id}`).
fn documented(templates: &BTreeSet<String>, path: &str) -> bool {
    templates.iter().any(|t| {
        let a: Vec<&str> = t.split('/').collect();
        let b: Vec<&str> = path.split('/').collect();
        a.len() == b.len()
            && a.iter()
                .zip(&b)
                .all(|(x, y)| x == y || (x.starts_with('{') && x.ends_with('}') && !y.is_empty()))
    })
}

/// The admin token, from the API (the test's own view, to compare the page against).
async fn api_get(base: &str, token: &str, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("API request")
        .error_for_status()
        .expect("API status")
        .json()
        .await
        .expect("API JSON")
}

const LONG: Duration = Duration::from_secs(60);
const SHORT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_centre_in_chromium() {
    let (chromium, chromedriver) = browser_paths();
    assert!(
        chromium.exists() && chromedriver.exists(),
        "the browser test needs Debian's chromium and chromedriver ({} and {}); \
         install them with scripts/install-test-deps.sh (packages chromium, chromium-driver)",
        chromium.display(),
        chromedriver.display()
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let token = format!("browser-test-{}", std::process::id());
    let viewer = format!("browser-viewer-{}", std::process::id());
    let mut server = Server::start(dir.path(), &token, &viewer);
    let driver = Driver::start(&chromedriver, &dir.path().join("chromedriver.log")).await;
    let profile = dir.path().join("chromium-profile");
    std::fs::create_dir_all(&profile).expect("profile dir");
    let session = driver.session(&chromium, &profile).await;

    // --- Signed in by the URL's fragment; the token leaves the address bar. ---------------
    session.goto(&server.url).await;
    session
        .wait_for(
            "the page to sign in",
            SHORT,
            "return !document.querySelector('#main').hidden",
        )
        .await;
    let href = session.eval("return location.href", vec![]).await;
    assert!(
        !href.as_str().unwrap_or_default().contains("token="),
        "the token is removed from the URL: {href}"
    );
    let stored = session
        .eval("return sessionStorage.getItem('fluxion.token')", vec![])
        .await;
    assert_eq!(stored, json!(token), "the token is kept for the session");

    // --- The stores: the gaps table lists every store the API reports. --------------------
    let gaps = api_get(&server.base, &token, "/api/ventas/gaps").await;
    let stores: Vec<String> = gaps["tiendas"]
        .as_array()
        .expect("gaps.tiendas")
        .iter()
        .map(|s| s["ubicacion_id"].as_str().expect("ubicacion_id").to_owned())
        .collect();
    assert!(!stores.is_empty(), "the demo has stores");
    let shown = session
        .wait_for(
            "the gaps table",
            SHORT,
            &format!(
                "const r = [...document.querySelectorAll('#gaps-table tbody tr')].map(tr => tr.dataset.store); \
                 return r.length === {} ? r : null;",
                stores.len()
            ),
        )
        .await;
    assert_eq!(
        shown,
        json!(stores),
        "one row per store, in the API's order"
    );
    let tiles = session
        .wait_for(
            "the connectivity panel",
            SHORT,
            &format!(
                "const r = [...document.querySelectorAll('#conn-list li')].map(li => li.dataset.store); \
                 return r.length === {} ? r : null;",
                stores.len()
            ),
        )
        .await;
    assert_eq!(tiles, json!(stores), "one connectivity tile per store");
    // Dialled just now: the simulator answers for every store, and the page agrees with the API.
    let live = api_get(&server.base, &token, "/api/etl/connectivity").await;
    assert_eq!(live["reachable"], json!(stores.len()), "{live}");
    let reachable = session
        .wait_for(
            "every store reachable",
            SHORT,
            &format!(
                "const n = document.querySelectorAll(\"#conn-list li[data-reach='reachable']\").length; \
                 return n === {} ? document.querySelector('#conn-summary').textContent : null;",
                stores.len()
            ),
        )
        .await;
    assert_eq!(
        reachable,
        json!(format!("{} alcanzables · 0 sin conexión", stores.len()))
    );
    let counted = session
        .eval(
            "return document.querySelector('#count-stores').textContent",
            vec![],
        )
        .await;
    assert_eq!(counted, json!(stores.len().to_string()));

    // --- Automatic ETL: the toggle disables and re-enables the scheduler. ----------------
    let enabled = |v: &Value| v["enabled"].as_bool().expect("scheduler enabled");
    let before = api_get(&server.base, &token, "/api/etl/scheduler/status").await;
    session
        .wait_for(
            "the scheduler panel",
            SHORT,
            &format!(
                "return document.querySelector('#auto-toggle').getAttribute('aria-pressed') === '{}'",
                enabled(&before)
            ),
        )
        .await;
    let toggle = session.find("#auto-toggle").await;
    session.click(&toggle).await;
    session
        .wait_for(
            "the toggle to flip",
            SHORT,
            &format!(
                "return document.querySelector('#auto-toggle').getAttribute('aria-pressed') === '{}'",
                !enabled(&before)
            ),
        )
        .await;
    let after = api_get(&server.base, &token, "/api/etl/scheduler/status").await;
    assert_eq!(
        enabled(&after),
        !enabled(&before),
        "the toggle changed the scheduler"
    );
    session.click(&toggle).await;
    session
        .wait_for(
            "the toggle to flip back",
            SHORT,
            &format!(
                "return document.querySelector('#auto-toggle').getAttribute('aria-pressed') === '{}'",
                enabled(&before)
            ),
        )
        .await;
    let back = api_get(&server.base, &token, "/api/etl/scheduler/status").await;
    assert_eq!(enabled(&back), enabled(&before));

    // --- Update: the store's recommended dates fill the form. ----------------------------
    // The first store with something to update (a store closed yesterday may have none).
    let entry = gaps["tiendas"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|s| s["recomendaciones"]["actualizar"].is_object())
        })
        .cloned()
        .unwrap_or(Value::Null);
    let store = entry["ubicacion_id"]
        .as_str()
        .unwrap_or(&stores[0])
        .to_owned();
    let rec = &entry["recomendaciones"]["actualizar"];
    if rec.is_object() {
        let button = session
            .find(&format!(
                "#gaps-table tr[data-store='{store}'] button[data-action='update']"
            ))
            .await;
        session.click(&button).await;
        let form = session
            .eval(
                "return [document.querySelector('#run-store').value, \
                         document.querySelector('#run-start').value, \
                         document.querySelector('#run-end').value]",
                vec![],
            )
            .await;
        assert_eq!(
            form,
            json!([store, rec["fecha_inicio"], rec["fecha_fin"]]),
            "Update fills the form with the recommended dates"
        );
    } else {
        panic!(
            "no demo store has an update recommendation, so the Update button cannot be \
             exercised: {gaps}"
        );
    }
    // --- Bad input is refused with a message beside the form, and nothing starts. --------
    let submit = session.find("#run-submit").await;
    let set_dates = "document.querySelector('#run-start').value = arguments[0]; \
                     document.querySelector('#run-end').value = arguments[1];";
    let form_error = "const m = document.querySelector('#run-message'); \
                      return m.dataset.kind === 'error' ? m.textContent : null;";
    session
        .eval(set_dates, vec![json!("2026-01-10"), json!("2026-01-05")])
        .await;
    session.click(&submit).await;
    let inverted = session
        .wait_for("the inverted-range message", SHORT, form_error)
        .await;
    assert_eq!(
        inverted,
        json!("La fecha de inicio es posterior a la de fin.")
    );
    session
        .eval(set_dates, vec![json!("2999-01-01"), json!("2999-01-02")])
        .await;
    session.click(&submit).await;
    let future = session
        .wait_for(
            "the server's 422 beside the form",
            SHORT,
            "const m = document.querySelector('#run-message'); \
             return m.dataset.kind === 'error' && m.textContent.includes('422') ? m.textContent : null;",
        )
        .await;
    assert!(
        future.as_str().unwrap_or_default().contains("future"),
        "the server says what is wrong: {future}"
    );
    // The browser logs the refused request itself (and nothing else so far); reading the
    // console clears it for the final check.
    let so_far: Vec<Value> = session
        .console()
        .await
        .into_iter()
        .filter(|e| e["level"] == "SEVERE")
        .collect();
    assert!(
        so_far.iter().all(|e| e["source"] == "network"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains("/api/etl/run") && m.contains("422"))),
        "only the refused run was an error so far: {so_far:#?}"
    );
    let none = api_get(&server.base, &token, "/api/etl/history").await;
    assert_eq!(none, json!([]), "refused runs left no execution");

    // One day keeps the run short: the recommendation's last day (yesterday, or the last open
    // day before it).
    let day = rec["fecha_fin"].as_str().expect("fecha_fin").to_owned();
    session
        .eval(
            "document.querySelector('#run-store').value = arguments[0]; \
             document.querySelector('#run-start').value = arguments[1]; \
             document.querySelector('#run-end').value = arguments[1];",
            vec![json!(store), json!(day)],
        )
        .await;

    // --- Start the run; its id comes back at once. ---------------------------------------
    session.click(&submit).await;
    let id = session
        .wait_for(
            "the run to start",
            SHORT,
            "const m = /#(\\d+)/.exec(document.querySelector('#run-message').textContent); \
             return m ? Number(m[1]) : null;",
        )
        .await
        .as_i64()
        .expect("execution id");

    // --- Its log lines arrive in the viewer; then it ends. ------------------------------
    session
        .wait_for(
            "log lines of the run",
            LONG,
            "return document.querySelectorAll('#log-lines li.log').length",
        )
        .await;
    session
        .wait_for(
            "the run to end",
            LONG,
            "return document.querySelector('#logs-state').dataset.state === 'idle'",
        )
        .await;
    let log_text = session
        .eval(
            "return document.querySelector('#log-lines').textContent",
            vec![],
        )
        .await;
    assert!(
        log_text.as_str().unwrap_or_default().contains(&store),
        "the log names the store: {log_text}"
    );
    // Refresh dials the stores again (one more request to the connectivity endpoint).
    let probes = "return performance.getEntriesByType('resource') \
                  .filter(e => new URL(e.name).pathname === '/api/etl/connectivity').length";
    let before = session.eval(probes, vec![]).await.as_u64().unwrap_or(0);
    let refresh = session.find("#conn-refresh").await;
    session.click(&refresh).await;
    session
        .wait_for(
            "a second probe",
            SHORT,
            &format!(
                "const n = performance.getEntriesByType('resource') \
                 .filter(e => new URL(e.name).pathname === '/api/etl/connectivity').length; \
                 return n > {before} && !document.querySelector('#conn-refresh').disabled;"
            ),
        )
        .await;
    let view = api_get(&server.base, &token, &format!("/api/etl/history/{id}")).await;
    assert_eq!(view["status"], "success", "the run succeeded: {view}");
    let page_log_lines = session
        .eval(
            "return document.querySelectorAll('#log-lines li.log').length",
            vec![],
        )
        .await;
    let api_logs = api_get(
        &server.base,
        &token,
        &format!("/api/etl/ventas/logs?execution_id={id}"),
    )
    .await;
    assert_eq!(
        page_log_lines, api_logs["total"],
        "the viewer shows every line of the run, once"
    );

    // --- Its detail: summary, phases, the per-store table. -------------------------------
    let open = session.find("#logs-open").await;
    assert_eq!(
        session.text(&open).await,
        format!("Ver ejecución #{id}"),
        "the page speaks Spanish by default here (browser language es)"
    );
    session.click(&open).await;
    session
        .wait_for(
            "the detail dialog",
            SHORT,
            &format!(
                "return document.querySelector('#detail').open && \
                 document.querySelector('#detail-body').dataset.execution === '{id}'"
            ),
        )
        .await;
    let row = session
        .eval(
            &format!(
                "const tr = document.querySelector(\"#detail-stores tr[data-store='{store}']\"); \
                 return tr ? [tr.dataset.status, tr.textContent] : null;"
            ),
            vec![],
        )
        .await;
    assert_eq!(row[0], "success", "the store's row in the detail: {row}");
    save_screenshot(&session, "control-centre-detail.png").await;
    let close = session.find("#detail-close").await;
    session.click(&close).await;

    // --- The history row. ----------------------------------------------------------------
    let tab = session.find("#tab-history").await;
    session.click(&tab).await;
    let cells = session
        .wait_for(
            "the run in the history",
            SHORT,
            &format!(
                "const tr = document.querySelector(\"#history-table tr[data-execution='{id}'][data-status='success']\"); \
                 return tr ? [...tr.children].map(td => td.textContent.trim()) : null;"
            ),
        )
        .await;
    let cells: Vec<String> = serde_json::from_value(cells).expect("cells");
    assert_eq!(cells[0], id.to_string());
    assert!(cells[3].contains("Éxito"), "status badge: {cells:?}");
    assert_eq!(cells[5], "1 ✓ / 0 ✗ / 1 total", "stores ok/failed/total");
    assert!(cells[8].contains("Admin"), "origin: {cells:?}");

    // --- Filters: no failed run, so the failed filter shows none (and says so). ---------
    session
        .eval(
            "const f = document.querySelector('#history-filters'); f.elements.status.value = 'failed'; \
             f.requestSubmit();",
            vec![],
        )
        .await;
    session
        .wait_for(
            "the filtered history",
            SHORT,
            "return document.querySelectorAll('#history-table tbody tr').length === 0 && \
             document.querySelector('#history-message').textContent.length > 0",
        )
        .await;
    session
        .eval(
            "document.querySelector('#history-filters').reset();",
            vec![],
        )
        .await;
    session
        .wait_for(
            "the unfiltered history",
            SHORT,
            &format!(
                "return !!document.querySelector(\"#history-table tr[data-execution='{id}']\")"
            ),
        )
        .await;

    // --- Keyboard: the arrow key moves from tab to tab. ---------------------------------
    let history_tab = session.find("#tab-history").await;
    session.send_keys(&history_tab, "\u{E014}").await; // ArrowRight
    session
        .wait_for(
            "the statistics tab from the keyboard",
            SHORT,
            "return document.activeElement.id === 'tab-stats' && \
             document.querySelector('#tab-stats').getAttribute('aria-selected') === 'true' && \
             !document.querySelector('#panel-stats').hidden",
        )
        .await;

    // --- Statistics: one run, all good. -------------------------------------------------
    let stats = session
        .wait_for(
            "the statistics",
            SHORT,
            "const r = document.querySelector('#stats-rate').textContent; \
             return r !== '—' ? [r, document.querySelector('#chart-phase').textContent] : null;",
        )
        .await;
    assert_eq!(stats[0], "100 %", "success rate: {stats}");
    assert_eq!(
        stats[1], "Sin errores en el período.",
        "no error bars: {stats}"
    );

    // --- Language switch. ----------------------------------------------------------------
    session
        .eval(
            "const s = document.querySelector('#lang-select'); s.value = 'en'; \
             s.dispatchEvent(new Event('change'));",
            vec![],
        )
        .await;
    let english = session
        .eval(
            "return [document.querySelector('#tab-history').textContent, document.documentElement.lang]",
            vec![],
        )
        .await;
    assert_eq!(english, json!(["History", "en"]));
    let tab = session.find("#tab-sales").await;
    session.click(&tab).await;
    save_screenshot(&session, "control-centre.png").await;

    // --- Only documented API paths were requested. ---------------------------------------
    let templates: BTreeSet<String> = openapi::document()["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    let requested = session
        .eval(
            "return performance.getEntriesByType('resource').map(e => new URL(e.name).pathname)",
            vec![],
        )
        .await;
    let requested: BTreeSet<String> = serde_json::from_value(requested).expect("paths");
    let api: Vec<&String> = requested
        .iter()
        .filter(|p| p.starts_with("/api/"))
        .collect();
    assert!(api.len() >= 6, "the page called the API: {requested:?}");
    for p in &api {
        assert!(
            documented(&templates, p),
            "the page requested {p}, which the OpenAPI document does not list"
        );
    }
    let severe: Vec<Value> = session
        .console()
        .await
        .into_iter()
        .filter(|e| e["level"] == "SEVERE")
        .collect();
    assert!(severe.is_empty(), "console errors: {severe:#?}");

    // --- A wrong token: 401, the sign-in form, then the form signs in. -------------------
    session
        .goto(&format!("{}/#token=not-a-token", server.base))
        .await;
    let banner = session
        .wait_for(
            "the 401 message",
            SHORT,
            "const b = document.querySelector('#banner'); \
             return !b.hidden && !document.querySelector('#signin').hidden ? b.textContent : null;",
        )
        .await;
    assert!(
        banner.as_str().unwrap_or_default().contains("401"),
        "{banner}"
    );
    let input = session.find("#token-input").await;
    session.send_keys(&input, &token).await;
    let submit = session.find("#signin-form button[type='submit']").await;
    session.click(&submit).await;
    session
        .wait_for(
            "the sign-in form to sign in",
            SHORT,
            "return !document.querySelector('#main').hidden && \
             document.querySelectorAll('#gaps-table tbody tr').length > 0",
        )
        .await;

    // --- A viewer token: the sales panel works (status, gaps, connectivity are the viewer's);
    // the history, admin only, says why it does not (403). ---------------------------------
    session
        .goto(&format!("{}/#token={viewer}", server.base))
        .await;
    session
        .wait_for(
            "the sales panel for a viewer",
            SHORT,
            &format!(
                "return document.querySelector('#banner').hidden && \
                 document.querySelectorAll(\"#conn-list li[data-reach='reachable']\").length === {} && \
                 document.querySelectorAll('#gaps-table tbody tr').length === {};",
                stores.len(),
                stores.len()
            ),
        )
        .await;
    let tab = session.find("#tab-history").await;
    session.click(&tab).await;
    let banner = session
        .wait_for(
            "the 403 message",
            SHORT,
            "const b = document.querySelector('#banner'); return !b.hidden ? b.textContent : null;",
        )
        .await;
    assert!(
        banner.as_str().unwrap_or_default().contains("403"),
        "{banner}"
    );
    session
        .goto(&format!("{}/#token={token}", server.base))
        .await;
    session
        .wait_for(
            "the admin token again",
            SHORT,
            "return document.querySelector('#banner').hidden",
        )
        .await;

    // --- The server goes away: a readable message, not a broken page. -------------------
    let _ = server.child.kill();
    let _ = server.child.wait();
    let refresh = session.find("#conn-refresh").await;
    session.click(&refresh).await;
    let offline = session
        .wait_for(
            "the unreachable-server banner",
            SHORT,
            "const b = document.querySelector('#banner'); \
             return !b.hidden && b.dataset.kind === 'offline' ? b.textContent : null;",
        )
        .await;
    assert!(
        offline
            .as_str()
            .unwrap_or_default()
            .contains("fluxion-server"),
        "{offline}"
    );
    save_screenshot(&session, "control-centre-offline.png").await;
    session.quit().await;
}
