//! SIGTERM during `fluxion run` closes the execution as interrupted instead of leaving it
//! `running`.
//!
//! The run is held in place by a KLK server that accepts connections and never answers (a
//! loopback listener the test owns): the CLI announces the run (at `-v`), its store waits on the
//! request, SIGTERM arrives, and the execution must be recorded as failed with category
//! `interrupted` — the store in flight rolled back, nothing left `running`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{run, Sandbox};

/// Kills the child if the test fails half-way.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn sigterm_closes_the_execution_as_interrupted() {
    let sb = Sandbox::new();
    // Accepts (the kernel completes the handshake) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let config = sb.config(
        "silent.toml",
        &format!(
            r#"[batch]
retries = 0
request_timeout_secs = 300

[klk]
base_url = "http://127.0.0.1:{port}"

[[stores]]
id = "tienda_01"
name = "PERIFERICO"
[stores.source]
system = "klk"
branch = "SUC001"
warehouse = "APP-TPF"
"#
        ),
    );
    run(sb.fluxion_db(), &["migrate"]).expect_code(0);

    let mut cmd = sb.fluxion();
    cmd.args(["-v", "run", "--kind", "sales", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = Reap(cmd.spawn().unwrap());
    let stderr = child.0.stderr.take().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("the run never started; stderr so far: {seen:#?}"));
        let started = line.contains("Run started");
        seen.push(line);
        if started {
            break;
        }
    }
    // The store is now waiting on the silent server.
    std::thread::sleep(Duration::from_millis(500));
    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    let exit = child.0.wait().unwrap();
    let rest: Vec<String> = lines.iter().collect();
    seen.extend(rest);
    assert_eq!(exit.code(), Some(1), "{seen:#?}");
    assert!(
        seen.iter().any(|l| l.contains("Interrupted")),
        "no interruption notice: {seen:#?}"
    );

    let show = run(sb.fluxion_db(), &["show", "1", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(show["status"], "failed", "{show}");
    assert_eq!(show["error_category"], "interrupted", "{show}");
    assert_ne!(show["finished_at"], serde_json::Value::Null, "{show}");
    assert_eq!(
        show["tiendas_detail"][0]["error_category"], "interrupted",
        "{show}"
    );
    drop(silent);
}
