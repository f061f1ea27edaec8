//! A running execution is tied to its owner's liveness (`loaders::liveness`), on both
//! destinations: a process killed mid-run leaves an execution that the next reconcile closes at
//! once, whatever its age, while a live process's run is never closed, however long it runs.

use std::process::Stdio;
use std::time::Duration;

use fluxion_etl::config::Config;
use fluxion_etl::loaders::Destination;
use fluxion_etl::model::{store_today, DataKind};
use fluxion_etl::tracker::{ExecutionStatus, HistoryFilter};
use fluxion_etl::{CancellationToken, Fluxion, RunRequest};
use fluxion_etl_sim::klk::{Endpoint, Fault, FaultRule, KlkSim, KlkSimConfig};

const CHILD_URL: &str = "FLUXION_TEST_LIVENESS_URL";
const CHILD_SIM: &str = "FLUXION_TEST_LIVENESS_SIM";

/// One store whose sales request never gets an answer (the request timeout is long).
fn config(url: &str, sim: &str) -> Config {
    let toml = format!(
        "[destination]\nurl = \"{url}\"\n[batch]\nrequest_timeout_secs = 3600\nretries = 0\n\
         [klk]\nbase_url = \"{sim}\"\n\
         [[stores]]\nid = \"tienda_01\"\nname = \"PERIFERICO\"\n[stores.source]\nsystem = \"klk\"\n\
         branch = \"SUC001\"\nwarehouse = \"APP-TPF\"\n"
    );
    Config::from_toml_str(&toml, "liveness").unwrap()
}

/// Opens a run that hangs; returns its execution id.
async fn hanging_run(fluxion: &Fluxion, cancel: CancellationToken) -> i64 {
    let yesterday = store_today().pred_opt().unwrap();
    fluxion
        .start(
            RunRequest::days(DataKind::Sales, yesterday, yesterday),
            cancel,
        )
        .await
        .unwrap()
        .execution_id
}

async fn status(destination: &Destination, id: i64) -> (ExecutionStatus, Option<String>) {
    let view = destination
        .tracker_store()
        .execution(id)
        .await
        .unwrap()
        .unwrap();
    (view.status, view.error_category.map(|c| c.to_string()))
}

async fn dead_owners_at_once_live_ones_never(url: String, test_name: &str) {
    if let (Ok(url), Ok(sim)) = (std::env::var(CHILD_URL), std::env::var(CHILD_SIM)) {
        // Child: open a hanging run, say so, and wait to be killed.
        let fluxion = Fluxion::from_config(config(&url, &sim)).await.unwrap();
        let id = hanging_run(&fluxion, CancellationToken::new()).await;
        println!("liveness-execution={id}");
        // Until the parent kills it; should the parent die first, this process goes too.
        let parent = std::os::unix::process::parent_id();
        while std::os::unix::process::parent_id() == parent {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        std::process::exit(1);
    }
    let sim = KlkSim::start(KlkSimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    sim.set_faults(vec![FaultRule::new(Fault::Hang)
        .for_branch("SUC001")
        .on(Endpoint::Ventas)]);
    let base = sim.base_url();

    // A live run in this process.
    let live = Fluxion::from_config(config(&url, &base)).await.unwrap();
    let cancel = CancellationToken::new();
    let live_id = hanging_run(&live, cancel.clone()).await;

    // A run in another process, killed while it runs.
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(CHILD_URL, &url)
        .env(CHILD_SIM, &base)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    /// Kills the child when the test ends, passed or not.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let killed_id = {
        use std::io::BufRead;
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        out.lines()
            .map_while(Result::ok)
            // libtest prints the test's name on the same line, before the test's own output.
            .find_map(|l| {
                l.split("liveness-execution=")
                    .nth(1)
                    .map(|id| id.trim().parse::<i64>().unwrap())
            })
            .expect("the child opened its run")
    };
    let child = Killed(child);
    drop(child);

    // Another process starts: with the age rule at its strictest, it closes the dead owner's
    // run at once and leaves the live one alone.
    let next = Destination::connect(&url).await.unwrap();
    assert_eq!(next.reconcile(Duration::ZERO).await.unwrap(), 1);
    assert_eq!(
        status(&next, killed_id).await,
        (ExecutionStatus::Failed, Some("interrupted".to_owned()))
    );
    assert_eq!(status(&next, live_id).await.0, ExecutionStatus::Running);
    // Again, later: still alive, still running.
    assert_eq!(next.reconcile(Duration::ZERO).await.unwrap(), 0);
    assert_eq!(status(&next, live_id).await.0, ExecutionStatus::Running);

    cancel.cancel();
    for _ in 0..200 {
        if status(&next, live_id).await.0 != ExecutionStatus::Running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status(&next, live_id).await,
        (ExecutionStatus::Failed, Some("interrupted".to_owned())),
        "the live run closed itself when cancelled"
    );
    let running = next
        .tracker_store()
        .history(&HistoryFilter {
            status: Some(ExecutionStatus::Running),
            ..HistoryFilter::default()
        })
        .await
        .unwrap();
    assert!(running.is_empty(), "{running:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_dead_owners_at_once_live_ones_never() {
    let dir = std::env::var(CHILD_URL)
        .is_err()
        .then(|| tempfile::tempdir().unwrap());
    let url = match &dir {
        Some(dir) => format!("sqlite://{}", dir.path().join("liveness.db").display()),
        None => String::new(),
    };
    dead_owners_at_once_live_ones_never(
        url,
        "liveness::sqlite_dead_owners_at_once_live_ones_never",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dead_owners_at_once_live_ones_never() {
    let url = match std::env::var(CHILD_URL) {
        Ok(_) => String::new(),
        Err(_) => crate::common::db::migrated_postgres_url().await,
    };
    dead_owners_at_once_live_ones_never(
        url,
        "liveness::postgres_dead_owners_at_once_live_ones_never",
    )
    .await;
}
