//! SIGTERM during `fluxion run` closes the execution as interrupted instead of leaving it
//! `running`.
//!
//! The run is held in place by a KLK server that accepts connections and never answers (a
//! loopback listener the test owns): the CLI announces the run (at `-v`), its store waits on the
//! request, SIGTERM arrives, and the execution must be recorded as failed with category
//! `interrupted` — the store in flight rolled back, nothing left `running`.

use std::time::Duration;

use crate::common::{run, Sandbox, Watched};

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
        .arg(&config);
    let mut child = Watched::until(cmd, "Run started");
    // The store is now waiting on the silent server.
    std::thread::sleep(Duration::from_millis(500));
    let code = child.terminate();
    assert_eq!(code, Some(1), "{:#?}", child.seen);
    assert!(
        child.seen.iter().any(|l| l.contains("Interrupted")),
        "no interruption notice: {:#?}",
        child.seen
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
