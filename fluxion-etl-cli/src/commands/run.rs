//! `fluxion run`: one sync of sales or inventory, with a spinner while it runs and each store's
//! result when it ends.

use std::io::IsTerminal;

use chrono::{NaiveDate, NaiveDateTime};
use fluxion_etl_core::local_time::{self, ManualWindow, WindowError};
use fluxion_etl_core::model::{store_today, DataKind, Window};
use fluxion_etl_core::tracker::{ExecutionStatus, ExecutionView, StoreStatus};
use fluxion_etl_core::{cancel_on_signals, CancellationToken, RunRequest, StoreSelection};
use indicatif::ProgressBar;

use super::{CliError, CliResult, Context, Exit, KindArg};
use crate::output;
use crate::progress::StoreProgress;

/// `fluxion run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to move.
    #[arg(long, value_enum)]
    kind: KindArg,

    /// First store-local day of sales (default: --to, else yesterday in America/Caracas).
    #[arg(long, value_name = "YYYY-MM-DD", conflicts_with_all = ["start", "end"])]
    from: Option<NaiveDate>,

    /// Last store-local day of sales, inclusive (default: --from, else yesterday).
    #[arg(long, value_name = "YYYY-MM-DD", conflicts_with_all = ["start", "end"])]
    to: Option<NaiveDate>,

    /// Exact start of the sales window, store-local, inclusive: "YYYY-MM-DD HH:MM".
    #[arg(long, value_name = "DATETIME", requires = "end", value_parser = parse_local)]
    start: Option<NaiveDateTime>,

    /// Exact end of the sales window, store-local, exclusive: "YYYY-MM-DD HH:MM".
    #[arg(long, value_name = "DATETIME", requires = "start", value_parser = parse_local)]
    end: Option<NaiveDateTime>,

    /// Only these stores, comma-separated (inactive ones too); default: every active store.
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    stores: Vec<String>,

    /// Print the execution as JSON (the `show --json` shape) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs the command.
pub async fn execute(args: Args, ctx: &Context) -> CliResult {
    let request = request(&args, store_today())?;
    let config = ctx.config()?;
    let fluxion = ctx.open(config).await?;

    let store_count = match &request.stores {
        StoreSelection::Ids(ids) => ids.len(),
        StoreSelection::AllActive => fluxion.config().active_stores().count(),
    };
    let what = describe(&request);
    let show_progress = !args.json && ctx.verbose == 0 && std::io::stderr().is_terminal();
    let progress = StoreProgress::new(show_progress, format!("Running {what}"));
    let fluxion = fluxion.with_observer(progress.clone());

    let cancel = CancellationToken::new();
    cancel_on_signals(cancel.clone());
    let watcher = tokio::spawn(watch_interrupts(cancel.clone(), progress.bar().clone()));
    tracing::info!(
        run = %what,
        stores = store_count,
        "Run started; Ctrl-C or SIGTERM stops it and closes its execution as interrupted."
    );
    let report = fluxion.run_with_cancel(request, &cancel).await;
    watcher.abort();
    progress.bar().finish_and_clear();
    let report = report?;

    let view = fluxion
        .tracker_store()
        .execution(report.execution_id)
        .await?
        .ok_or_else(|| {
            CliError::new(
                Exit::Internal,
                anyhow::anyhow!(
                    "execution {} finished but cannot be read back",
                    report.execution_id
                ),
            )
        })?;
    if args.json {
        output::print_json(&view)?;
    } else {
        output::print(human(&view, &what, report.interrupted))?;
    }
    Ok(Exit::of_status(report.status))
}

/// Turns the arguments into a request; `today` is the store-local date.
fn request(args: &Args, today: NaiveDate) -> Result<RunRequest, CliError> {
    let mut request = match args.kind {
        KindArg::Inventory => {
            if args.from.is_some() || args.to.is_some() || args.start.is_some() {
                return Err(CliError::usage(
                    "an inventory run takes a snapshot now; --from, --to, --start and --end apply to sales only",
                ));
            }
            RunRequest::inventory()
        }
        KindArg::Sales => {
            // `days` only builds whole-day windows; `--start`/`--end` can be any window.
            let mut r = RunRequest::days(DataKind::Sales, today, today);
            r.window = Some(sales_window(args, today)?);
            r
        }
    };
    let stores: Vec<String> = args
        .stores
        .iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if !stores.is_empty() {
        request = request.with_stores(stores);
    }
    Ok(request)
}

/// The window by the library's rules (`local_time`), worded with the command's flags.
fn sales_window(args: &Args, today: NaiveDate) -> Result<Window, CliError> {
    if let (Some(start), Some(end)) = (args.start, args.end) {
        let asked = ManualWindow {
            start: Some(start),
            end: Some(end),
        };
        return asked.resolve(today, false).map_err(|e| {
            CliError::usage(match e {
                WindowError::InFuture { from } => format!("--start ({from}) is in the future"),
                _ => format!("--end ({end}) must be after --start ({start})"),
            })
        });
    }
    let yesterday = today.pred_opt().unwrap_or(today);
    let (first, last) = match (args.from, args.to) {
        (Some(from), Some(to)) => (from, to),
        (Some(day), None) | (None, Some(day)) => (day, day),
        (None, None) => (yesterday, yesterday),
    };
    if last < first {
        return Err(CliError::usage(format!(
            "--to ({last}) is before --from ({first})"
        )));
    }
    let window = Window::days(first, last)
        .ok_or_else(|| CliError::usage(format!("cannot build a window from {first} to {last}")))?;
    local_time::not_in_future(&window, today)
        .map_err(|_| CliError::usage(format!("--from ({first}) is in the future")))?;
    Ok(window)
}

/// `"YYYY-MM-DD HH:MM"` (seconds and a `T` separator are accepted too), store-local.
pub(super) fn parse_local(text: &str) -> Result<NaiveDateTime, String> {
    local_time::parse_local(text)
        .ok_or_else(|| format!("`{text}` is not a store-local time like \"2026-01-25 14:30\""))
}

fn describe(request: &RunRequest) -> String {
    match (request.kind, request.window) {
        (DataKind::Sales, Some(w)) => format!("sales {}", output::window(w.from_utc(), w.to_utc())),
        (DataKind::Sales, None) => "sales".to_owned(),
        (DataKind::Inventory, _) => "inventory".to_owned(),
    }
}

/// Says that the run is closing after the first Ctrl-C, and quits at once on the second
/// (leaving the execution to be reconciled as interrupted later).
async fn watch_interrupts(cancel: CancellationToken, progress: ProgressBar) {
    cancel.cancelled().await;
    let message = "Interrupted: rolling back stores in flight and closing the execution (Ctrl-C again to quit now)";
    if progress.is_hidden() {
        eprintln!("{message}");
    } else {
        progress.set_message(message);
    }
    if tokio::signal::ctrl_c().await.is_ok() {
        progress.finish_and_clear();
        eprintln!("Interrupted twice: quitting without closing the execution.");
        std::process::exit(130);
    }
}

fn human(view: &ExecutionView, what: &str, interrupted: bool) -> String {
    let mut text = String::new();
    let stores = &view.tiendas_detail;
    if stores.is_empty() {
        text.push_str("No stores to run (the configuration has no active stores).\n");
    } else {
        text.push_str(&output::store_table(stores).to_string());
        let errors = output::store_errors(stores);
        if !errors.is_empty() {
            text.push_str("\nErrors:\n");
            text.push_str(&errors);
            text.push('\n');
        }
        text.push('\n');
    }
    let ok = stores
        .iter()
        .filter(|s| s.status == StoreStatus::Success)
        .count();
    let status = if interrupted {
        format!("{} (interrupted)", view.status)
    } else {
        view.status.to_string()
    };
    text.push_str(&format!(
        "Execution {id} {status}: {what}, {ok}/{total} stores ok, {extracted} extracted, {loaded} loaded, {dups} duplicates, {duration}.",
        id = view.id,
        total = stores.len(),
        extracted = output::count(view.records_extracted),
        loaded = output::count(view.records_loaded),
        dups = output::count(view.duplicates_skipped),
        duration = output::opt_duration(view.duration_seconds),
    ));
    if view.status != ExecutionStatus::Success {
        text.push_str(&format!(" Details: fluxion show {}", view.id));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: Args,
    }

    fn args(line: &[&str]) -> Args {
        let mut argv = vec!["run"];
        argv.extend_from_slice(line);
        Wrapper::try_parse_from(argv).unwrap().args
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn window_of(line: &[&str]) -> Window {
        request(&args(line), day("2026-01-26"))
            .unwrap()
            .window
            .unwrap()
    }

    #[test]
    fn sales_default_to_yesterday() {
        assert_eq!(
            window_of(&["--kind", "sales"]),
            Window::day(day("2026-01-25")).unwrap()
        );
    }

    #[test]
    fn whole_days_are_inclusive() {
        assert_eq!(
            window_of(&[
                "--kind",
                "sales",
                "--from",
                "2026-01-20",
                "--to",
                "2026-01-22"
            ]),
            Window::days(day("2026-01-20"), day("2026-01-22")).unwrap()
        );
        assert_eq!(
            window_of(&["--kind", "sales", "--from", "2026-01-20"]),
            Window::day(day("2026-01-20")).unwrap()
        );
        assert_eq!(
            window_of(&["--kind", "ventas", "--to", "2026-01-21"]),
            Window::day(day("2026-01-21")).unwrap()
        );
    }

    #[test]
    fn exact_windows_are_half_open() {
        let w = window_of(&[
            "--kind",
            "sales",
            "--start",
            "2026-01-25 08:00",
            "--end",
            "2026-01-25T09:30",
        ]);
        assert_eq!(w.from, parse_local("2026-01-25 08:00:00").unwrap());
        assert_eq!(w.to, parse_local("2026-01-25 09:30").unwrap());
    }

    #[test]
    fn bad_windows_are_usage_errors() {
        let today = day("2026-01-26");
        let e = request(
            &args(&[
                "--kind",
                "sales",
                "--from",
                "2026-01-22",
                "--to",
                "2026-01-20",
            ]),
            today,
        )
        .unwrap_err();
        assert_eq!(e.exit(), Exit::Usage);
        let e = request(
            &args(&[
                "--kind",
                "sales",
                "--start",
                "2026-01-25 09:00",
                "--end",
                "2026-01-25 08:00",
            ]),
            today,
        )
        .unwrap_err();
        assert_eq!(e.exit(), Exit::Usage);
        let e = request(
            &args(&["--kind", "inventory", "--from", "2026-01-20"]),
            today,
        )
        .unwrap_err();
        assert_eq!(e.exit(), Exit::Usage);
        assert!(parse_local("yesterday").is_err());
    }

    #[test]
    fn future_windows_are_usage_errors() {
        let today = day("2026-01-26");
        for argv in [
            &[
                "--kind",
                "sales",
                "--from",
                "2999-01-01",
                "--to",
                "2999-01-02",
            ][..],
            &["--kind", "sales", "--from", "2026-01-27"],
            &[
                "--kind",
                "sales",
                "--start",
                "2026-01-27 08:00",
                "--end",
                "2026-01-27 09:00",
            ],
        ] {
            let e = request(&args(argv), today).unwrap_err();
            assert_eq!(e.exit(), Exit::Usage, "{argv:?}");
            assert!(
                format!("{:#}", e.error()).contains("in the future"),
                "{argv:?}"
            );
        }
        // Today itself is allowed: the morning's sales so far.
        assert!(request(&args(&["--kind", "sales", "--from", "2026-01-26"]), today).is_ok());
    }

    #[test]
    fn start_needs_end_and_excludes_days() {
        assert!(
            Wrapper::try_parse_from(["run", "--kind", "sales", "--start", "2026-01-25 08:00"])
                .is_err()
        );
        assert!(Wrapper::try_parse_from([
            "run",
            "--kind",
            "sales",
            "--from",
            "2026-01-25",
            "--start",
            "2026-01-25 08:00",
            "--end",
            "2026-01-25 09:00"
        ])
        .is_err());
    }

    #[test]
    fn stores_select_ids() {
        let r = request(
            &args(&["--kind", "inventory", "--stores", "tienda_01, cedi_seco,"]),
            day("2026-01-26"),
        )
        .unwrap();
        assert_eq!(r.kind, DataKind::Inventory);
        assert_eq!(r.window, None);
        assert_eq!(
            r.stores,
            StoreSelection::Ids(vec!["tienda_01".into(), "cedi_seco".into()])
        );
        let r = request(&args(&["--kind", "sales"]), day("2026-01-26")).unwrap();
        assert_eq!(r.stores, StoreSelection::AllActive);
    }
}
