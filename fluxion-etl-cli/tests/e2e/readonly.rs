//! `migrate`, and the read-only commands with nothing but `DATABASE_URL`.

use crate::common::{run, Sandbox};

#[test]
fn migrate_then_history_of_an_empty_database() {
    let sb = Sandbox::new();
    let out = run(sb.fluxion_db(), &["migrate"]).expect_code(0);
    assert!(out.stdout.contains("Applied"), "{out:?}");
    let out = run(sb.fluxion_db(), &["migrate"]).expect_code(0);
    assert!(out.stdout.contains("already current"), "{out:?}");

    let out = run(sb.fluxion_db(), &["history", "--json"]).expect_code(0);
    assert_eq!(out.json(), serde_json::json!([]));
    let out = run(sb.fluxion_db(), &["history"]).expect_code(0);
    assert!(out.stdout.contains("No executions"), "{out:?}");

    let out = run(sb.fluxion_db(), &["stats", "--json"]).expect_code(0);
    assert_eq!(out.json()["total_executions"], 0, "{out:?}");
    let out = run(sb.fluxion_db(), &["stats"]).expect_code(0);
    assert!(out.stdout.contains("0 executions"), "{out:?}");
}

#[test]
fn show_of_an_unknown_execution_fails() {
    let sb = Sandbox::new();
    let out = run(sb.fluxion_db(), &["show", "42"]).expect_code(1);
    assert!(out.stderr.contains("no execution 42"), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
}

#[test]
fn read_only_commands_use_the_config_destination_when_given() {
    let sb = Sandbox::new();
    let config = sb.empty_config();
    let config = config.to_str().unwrap();
    run(sb.fluxion(), &["migrate", "--config", config]).expect_code(0);
    assert!(sb.path().join("x.db").exists());
    let out = run(sb.fluxion(), &["history", "--json", "--config", config]).expect_code(0);
    assert_eq!(out.json(), serde_json::json!([]));
}

/// A password in `DATABASE_URL` never reaches stdout or stderr, whichever command fails on it
/// and however verbose the logs are.
#[test]
fn a_database_password_is_never_printed() {
    let sb = Sandbox::new();
    let config = sb.empty_config();
    let config = config.to_str().unwrap();
    let url = "postgres://u:s3cret@127.0.0.1:1/db";
    let cases: &[&[&str]] = &[
        &["history"],
        &["history", "--json"],
        &["show", "1"],
        &["stats", "--json"],
        &["migrate"],
        &["-vvv", "history"],
        &["-vvv", "run", "--kind", "sales", "--config", config],
        &["run", "--kind", "inventory", "--json", "--config", config],
    ];
    for args in cases {
        let mut cmd = sb.fluxion();
        cmd.env("DATABASE_URL", url);
        let out = run(cmd, args);
        assert_eq!(out.code, 69, "{args:?}: {out:?}");
        assert!(!out.stdout.contains("s3cret"), "{args:?}: {out:?}");
        assert!(!out.stderr.contains("s3cret"), "{args:?}: {out:?}");
        assert!(out.stderr.contains("127.0.0.1:1"), "{args:?}: {out:?}");
    }
    let mut cmd = sb.fluxion();
    cmd.env("RUST_LOG", "trace").env("DATABASE_URL", url);
    let out = run(cmd, &["stats"]);
    assert_eq!(out.code, 69, "{out:?}");
    assert!(!out.stderr.contains("s3cret"), "{out:?}");
}
