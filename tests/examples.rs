//! Every example in `examples/` runs, as a user would run it, and prints what its doc comment
//! promises. The binaries are the ones `cargo test` builds beside this test (same features, same
//! profile); when this test is run alone (`cargo test --test integration`) and one is missing or
//! older than its source, they are built first. Each example talks to loopback only (simulators
//! in-process).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Runs example `name` to completion and returns its standard output.
fn run_example(name: &str) -> String {
    let path = example_path(name);
    let mut child = Command::new(&path)
        // The examples configure their own destination and trigger; nothing from the
        // environment the suite runs in may redirect them.
        .env_remove("DATABASE_URL")
        .env_remove("FLUXION_CONFIG")
        .env_remove("ETL_ENVIRONMENT")
        .env_remove("AWS_EXECUTION_ENV")
        .env_remove("FLUXION_ADMIN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
    // A generous bound: an example that hangs fails the suite instead of stalling it.
    let deadline = Instant::now() + Duration::from_secs(180);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("example {name} did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "example {name} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `target/<profile>/examples/<name>`, built if it is missing or older than its source.
fn example_path(name: &str) -> PathBuf {
    // This test runs from `target/<profile>/deps/`.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("examples/{name}.rs"));
    let modified = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let stale = || modified(&path) < modified(&source);
    if stale() {
        static BUILD: Mutex<()> = Mutex::new(());
        let _one_build = BUILD.lock().unwrap_or_else(|p| p.into_inner());
        if stale() {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args(["build", "--workspace", "--examples", "--locked"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .unwrap();
            assert!(status.success(), "cannot build the examples");
        }
    }
    path
}

/// The number printed just before `label` on `line` (`"… 512 lines extracted …"`).
fn number_before(line: &str, label: &str) -> u64 {
    let head = &line[..line
        .find(label)
        .unwrap_or_else(|| panic!("no `{label}` in {line:?}"))];
    let digits: String = head
        .trim_end()
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number before `{label}` in {line:?}"))
}

fn line_starting<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{out}"))
}

#[test]
fn quickstart_loads_two_stores_then_finds_nothing_new() {
    let out = run_example("quickstart");
    let first = line_starting(
        &out,
        "first run: execution 1 success: 2 stores ok, 0 failed;",
    );
    let extracted = number_before(first, "lines extracted");
    assert!(extracted > 0, "{out}");
    assert_eq!(number_before(first, "loaded"), extracted, "{out}");
    assert_eq!(number_before(first, "unchanged"), 0, "{out}");
    let second = line_starting(
        &out,
        "second run: execution 2 success: 2 stores ok, 0 failed;",
    );
    assert_eq!(number_before(second, "lines extracted"), extracted, "{out}");
    assert_eq!(number_before(second, "loaded"), 0, "{out}");
    assert_eq!(number_before(second, "unchanged"), extracted, "{out}");
}

#[test]
fn custom_transformer_loads_what_it_did_not_reject() {
    let out = run_example("custom_transformer");
    let line = line_starting(&out, "execution 1 success:");
    let extracted = number_before(line, "lines extracted");
    let loaded = number_before(line, "loaded");
    let rejected = number_before(line, "non-fiscal lines rejected");
    assert!(extracted > 0, "{out}");
    assert_eq!(loaded + rejected, extracted, "{out}");
}

#[test]
fn custom_loader_writes_a_file_per_store_and_day_and_the_tracker_times_each_phase() {
    let out = run_example("custom_loader");
    let mut total = 0;
    for store in ["tienda_01", "tienda_02"] {
        let line = line_starting(&out, &format!("{store} success: "));
        total += number_before(line, "lines;");
        for phase in ["extract", "transform", "load"] {
            assert!(line.contains(&format!("{phase} ")), "{line}");
        }
    }
    assert!(total > 0, "{out}");
    let last = line_starting(&out, "execution 1 success: ");
    assert_eq!(number_before(last, "lines in"), total, "{out}");
    assert!(
        last.ends_with(
            "tienda_01_2025-11-16.jsonl, tienda_01_2025-11-17.jsonl, \
             tienda_02_2025-11-16.jsonl, tienda_02_2025-11-17.jsonl"
        ),
        "{out}"
    );
}

#[test]
fn custom_extractor_classifies_each_failure_of_its_source() {
    let out = run_example("custom_extractor");
    for expected in [
        "kiosko_01: loaded 40 lines",
        "kiosko_02: failed in extract, api_error, retryable: true",
        "kiosko_03: failed in extract, api_auth, retryable: false",
        "kiosko_04: failed in transform, data_format, retryable: true",
        "execution 1 partial: 3 of 4 stores failed",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(expected)),
            "no {expected:?} in:\n{out}"
        );
    }
}

#[test]
fn observe_streams_every_store_start_and_finish_in_order() {
    let out = run_example("observe");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&"execution 1 started: 4 stores"),
        "{out}"
    );
    for store in ["tienda_01", "tienda_02", "tienda_03", "tienda_04"] {
        let started = lines
            .iter()
            .position(|l| *l == format!("  {store} started"))
            .unwrap_or_else(|| panic!("{store} never started:\n{out}"));
        let finished = lines
            .iter()
            .position(|l| {
                l.starts_with(&format!("  {store} success: "))
                    || l.starts_with(&format!("  {store} failed"))
            })
            .unwrap_or_else(|| panic!("{store} never finished:\n{out}"));
        assert!(started < finished, "{out}");
    }
    assert!(
        lines.contains(&"  tienda_03 failed in extract: api_auth"),
        "{out}"
    );
    assert_eq!(lines.last(), Some(&"execution 1 ended partial"), "{out}");
}

#[test]
fn embed_server_serves_both_routers_and_shuts_down_once() {
    let out = run_example("embed_server");
    for expected in [
        "GET /shop/hello: hello from the shop",
        "GET /readyz: 200 OK",
        "GET /api/etl/scheduler/status: enabled true, running false",
        "POST /shop/stop: stopping",
        "shut down: 0 runs finished, 0 interrupted",
    ] {
        assert!(
            out.lines().any(|l| l == expected),
            "no {expected:?} in:\n{out}"
        );
    }
}

#[test]
fn stellar_inventory_streams_a_depot_in_batches() {
    let out = run_example("stellar_inventory");
    let batches: u64 = out
        .lines()
        .filter(|l| l.starts_with("batch of "))
        .map(|l| number_before(l, "items"))
        .sum();
    let summary = out
        .lines()
        .find(|l| l.contains(" items in ") && l.ends_with(" queries"))
        .unwrap_or_else(|| panic!("no summary in:\n{out}"));
    assert!(batches > 250, "a depot of several batches: {out}");
    assert_eq!(number_before(summary, "items in"), batches, "{out}");
    let header = out.lines().position(|l| l.starts_with("code ")).unwrap();
    assert_eq!(out.lines().skip(header + 1).count(), 10, "{out}");
}
