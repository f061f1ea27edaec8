//! `validate`, usage errors and exit codes 64/65.

use crate::common::{run, Sandbox};

const GOOD: &str = r#"[batch]
batch_size = 1000
max_workers = 2

[klk]
base_url = "http://127.0.0.1:7002"

[[stores]]
id = "tienda_01"
name = "PERIFERICO"
[stores.source]
system = "klk"
branch = "SUC001"
warehouse = "APP-TPF"

[[stores]]
id = "tienda_02"
name = "BOSQUE"
active = false
[stores.source]
system = "klk"
branch = "SUC002"
warehouse = "APP-TPF"

[[stores]]
id = "cedi_seco"
name = "CEDI Seco"
kind = "cedi"
[stores.source]
system = "stellar"
host = { local = "127.0.0.1", production = "192.168.20.12" }
port = 14330
depot = "1413"
"#;

#[test]
fn validate_summarizes_a_good_file() {
    let sb = Sandbox::new();
    let config = sb.write("fluxion.toml", GOOD);
    let out = run(
        sb.fluxion(),
        &["validate", "--config", config.to_str().unwrap()],
    )
    .expect_code(0);
    assert!(out.stdout.contains("is valid"), "{out:?}");
    assert!(out.stdout.contains("klk 2, stellar 1"), "{out:?}");
    assert!(out.stdout.contains("2 active"), "{out:?}");
    assert!(out.stdout.contains("1 distribution centre"), "{out:?}");
    // The default destination when the file names none.
    assert!(out.stdout.contains("sqlite://fluxion.db"), "{out:?}");
}

#[test]
fn validate_reads_fluxion_config_from_the_environment() {
    let sb = Sandbox::new();
    let config = sb.write("fluxion.toml", GOOD);
    let mut cmd = sb.fluxion();
    cmd.env("FLUXION_CONFIG", &config);
    let out = run(cmd, &["validate"]).expect_code(0);
    assert!(out.stdout.contains("is valid"), "{out:?}");
}

#[test]
fn validate_hides_credentials_of_the_destination() {
    let sb = Sandbox::new();
    let config = sb.write("fluxion.toml", GOOD);
    let mut cmd = sb.fluxion();
    cmd.env("DATABASE_URL", "postgres://etl:s3cret@127.0.0.1:1/fluxion");
    let out = run(cmd, &["validate", "--config", config.to_str().unwrap()]).expect_code(0);
    assert!(
        out.stdout
            .contains("postgres://etl:***@127.0.0.1:1/fluxion"),
        "{out:?}"
    );
    assert!(out.stdout.contains("from DATABASE_URL"), "{out:?}");
    assert!(
        !out.stdout.contains("s3cret") && !out.stderr.contains("s3cret"),
        "{out:?}"
    );
}

#[test]
fn validate_names_an_unknown_key_and_its_line() {
    let sb = Sandbox::new();
    let config = sb.write(
        "bad.toml",
        &GOOD.replace("max_workers = 2", "max_workers = 2\nmax_wrokers = 3"),
    );
    let out = run(
        sb.fluxion(),
        &["validate", "--config", config.to_str().unwrap()],
    )
    .expect_code(65);
    assert!(out.stderr.contains("max_wrokers"), "{out:?}");
    // `max_wrokers` is on line 4 of the file.
    assert!(out.stderr.contains("bad.toml:4:"), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
}

#[test]
fn validate_names_an_invalid_value() {
    let sb = Sandbox::new();
    let config = sb.write("bad.toml", &GOOD.replace("port = 14330", "port = 0"));
    let out = run(
        sb.fluxion(),
        &["validate", "--config", config.to_str().unwrap()],
    )
    .expect_code(65);
    assert!(out.stderr.contains("stores[2].source.port"), "{out:?}");
    assert!(out.stderr.contains("bad.toml:32:"), "{out:?}");
}

#[test]
fn validate_of_a_missing_file_is_a_config_error() {
    let sb = Sandbox::new();
    let out = run(sb.fluxion(), &["validate", "--config", "nowhere.toml"]).expect_code(65);
    assert!(out.stderr.contains("nowhere.toml"), "{out:?}");
}

#[test]
fn commands_that_need_a_config_say_so() {
    let sb = Sandbox::new();
    for args in [&["validate"][..], &["run", "--kind", "sales"]] {
        let out = run(sb.fluxion(), args).expect_code(64);
        assert!(out.stderr.contains("--config"), "{args:?}: {out:?}");
    }
}

#[test]
fn usage_errors_exit_64() {
    let sb = Sandbox::new();
    let cases: &[&[&str]] = &[
        &[],
        &["frobnicate"],
        &["run"],
        &["run", "--kind", "bogus"],
        &["run", "--kind", "sales", "--from", "yesterday"],
        &["run", "--kind", "sales", "--start", "2026-01-10 08:00"],
        &["history", "--limit", "201"],
        &["history", "--limit", "0"],
        &["history", "--status", "exploded"],
        &["stats", "--days", "91"],
        &["show", "not-a-number"],
    ];
    for args in cases {
        let out = run(sb.fluxion_db(), args);
        assert_eq!(out.code, 64, "{args:?}: {out:?}");
        assert!(!out.stderr.is_empty(), "{args:?}: {out:?}");
    }
    // Nothing was opened or created by a command that did not parse.
    assert!(!sb.path().join("x.db").exists());
}

#[test]
fn bad_run_requests_exit_64() {
    let sb = Sandbox::new();
    let config = sb.empty_config();
    let config = config.to_str().unwrap();
    let cases: &[&[&str]] = &[
        &["run", "--kind", "inventory", "--from", "2026-01-10"],
        &[
            "run",
            "--kind",
            "sales",
            "--from",
            "2026-01-12",
            "--to",
            "2026-01-10",
        ],
        &["run", "--kind", "sales", "--stores", "nope"],
    ];
    for args in cases {
        let mut argv = args.to_vec();
        argv.extend(["--config", config]);
        let out = run(sb.fluxion(), &argv);
        assert_eq!(out.code, 64, "{args:?}: {out:?}");
    }
    let out = run(
        sb.fluxion(),
        &[
            "run", "--kind", "sales", "--stores", "nope", "--config", config,
        ],
    );
    assert!(out.stderr.contains("unknown store `nope`"), "{out:?}");
}

#[test]
fn help_and_version_exit_0() {
    let sb = Sandbox::new();
    let out = run(sb.fluxion(), &["--help"]).expect_code(0);
    assert!(out.stdout.contains("Usage: fluxion"), "{out:?}");
    for command in ["run", "history", "show", "stats", "migrate", "validate"] {
        assert!(out.stdout.contains(command), "{command}: {out:?}");
    }
    let out = run(sb.fluxion(), &["--version"]).expect_code(0);
    assert!(out.stdout.starts_with("fluxion "), "{out:?}");
    let out = run(sb.fluxion(), &["run", "--help"]).expect_code(0);
    assert!(out.stdout.contains("--stores"), "{out:?}");
}

#[test]
fn a_bad_environment_is_a_config_error() {
    let sb = Sandbox::new();
    let mut cmd = sb.fluxion_db();
    cmd.env("ETL_ENVIRONMENT", "mars");
    let out = run(cmd, &["history"]).expect_code(65);
    assert!(out.stderr.contains("ETL_ENVIRONMENT"), "{out:?}");
    assert!(
        !out.stderr.contains("cannot use the destination"),
        "{out:?}"
    );
}
