//! A throwaway PostgreSQL server for tests and benches, started from the system's binaries.
//!
//! [`TestPostgres::shared`] gives every test of a process the same server, started on first use;
//! [`TestPostgres::create_database`] hands each test a fresh, empty database of its own
//! (`CREATE DATABASE` with a unique name), so tests run in parallel and in any order.
//!
//! ```no_run
//! # async fn demo() -> Result<(), fluxion_etl_sim::postgres::HarnessError> {
//! use fluxion_etl_sim::postgres::TestPostgres;
//!
//! let url = TestPostgres::shared().await?.create_database().await?;
//! // postgres://postgres@127.0.0.1:PORT/fluxion_test_…, empty and yours alone.
//! # let _ = url; Ok(()) }
//! ```
//!
//! # Where the server comes from
//! - When `DATABASE_URL` is set to a `postgres://` or `postgresql://` URL, that server is used:
//!   databases are created on it and left behind (named `fluxion_test_*`) for inspection.
//! - Otherwise `initdb`, `pg_ctl` and `postgres` are looked up in `FLUXION_PG_BIN`, then on
//!   `PATH`, then under `/usr/lib/postgresql/*/bin` (newest version first), and a server is
//!   initialised in a temporary directory: trust authentication, listening on `127.0.0.1` on a
//!   free port, its Unix socket inside the temporary directory, durability switched off (`fsync`,
//!   `synchronous_commit`, `full_page_writes`) because nothing in it needs to survive a crash.
//!   When the binaries are missing the error says what to install (Debian/Ubuntu: `postgresql`,
//!   or run `scripts/install-test-deps.sh`).
//!
//! # Running as root
//! `initdb` and `postgres` refuse to run as root. When the test process is root the server runs
//! as an unprivileged user — `FLUXION_PG_USER` if set, else `fluxion-test` if that user exists
//! (the install script creates it), else `nobody` — through `setpriv` (or `runuser`), and the
//! temporary directory is handed to that user.
//!
//! # Cleanup
//! A static is never dropped, so the shared server cannot be stopped by a destructor. Instead
//! every server gets a **watchdog**: a small `sh` process, started before `initdb`, that blocks
//! reading a pipe whose write end only this process holds. When the process exits — normally,
//! by panic, or by `SIGKILL` — the kernel closes that end, the watchdog wakes up, shuts the
//! server down (`SIGQUIT`, PostgreSQL's immediate shutdown) and deletes the temporary directory.
//! No server outlives its test process, and none is left over between runs. A server owned by a
//! [`TestPostgres`] value (not the shared one) is stopped the same way when the value is dropped.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::{Connection, Executor, PgConnection};
use tokio::process::Command;
use tokio::sync::OnceCell;

/// Why a test server could not be provided.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// No PostgreSQL server binaries were found.
    #[error(
        "cannot start a test PostgreSQL: no `initdb`/`pg_ctl`/`postgres` found in FLUXION_PG_BIN, on PATH \
         or under /usr/lib/postgresql/*/bin. Install PostgreSQL's server package (Debian/Ubuntu: \
         `apt-get install postgresql`; or run scripts/install-test-deps.sh), or point DATABASE_URL at a \
         server you own (postgres://user@127.0.0.1/postgres)"
    )]
    BinariesNotFound,
    /// The process runs as root and there is no way to run the server as another user.
    #[error(
        "cannot start a test PostgreSQL as root: {0}. Create an unprivileged user (scripts/install-test-deps.sh \
         creates `fluxion-test`) or set FLUXION_PG_USER, and make sure `setpriv` or `runuser` is installed"
    )]
    NoUnprivilegedUser(String),
    /// A command of the server's life cycle failed.
    #[error("`{command}` failed: {output}")]
    Command {
        /// The command line.
        command: String,
        /// What it printed (or the server log).
        output: String,
    },
    /// An I/O failure around the temporary directory or a child process.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The server did not accept SQL connections.
    #[error("the test PostgreSQL at {url} did not accept connections: {source}")]
    Connect {
        /// The URL tried.
        url: String,
        /// The cause.
        #[source]
        source: sqlx::Error,
    },
    /// The operation needs a server this process started (not one from `DATABASE_URL`).
    #[error("{0} needs a server started by the test harness, not one from DATABASE_URL")]
    NotLocal(&'static str),
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> HarnessError {
    let context = context.into();
    move |source| HarnessError::Io { context, source }
}

static SHARED: OnceCell<TestPostgres> = OnceCell::const_new();

/// A PostgreSQL server for tests: started from the system's binaries, or the one `DATABASE_URL`
/// names.
#[derive(Debug)]
pub struct TestPostgres {
    admin_url: String,
    local: Option<LocalServer>,
    next_database: AtomicU64,
}

#[derive(Debug, Clone)]
struct RunAs {
    user: String,
    uid: u32,
    gid: u32,
    via: PrivilegeDrop,
}

#[derive(Debug, Clone, Copy)]
enum PrivilegeDrop {
    Setpriv,
    Runuser,
}

#[derive(Debug)]
struct LocalServer {
    bin: PathBuf,
    root: PathBuf,
    data: PathBuf,
    port: u16,
    run_as: Option<RunAs>,
    watchdog: Mutex<Option<Child>>,
}

/// Stops the server and deletes its directory once stdin reaches end-of-file, i.e. once every
/// holder of the pipe's write end — only the test process — is gone. `$1` is the data directory,
/// `$2` the temporary directory to delete.
const WATCHDOG: &str = r#"
trap '' INT TERM HUP
while read -r _line; do :; done
pid=$(head -n 1 "$1/postmaster.pid" 2>/dev/null)
if [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null; then
    i=0
    while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    kill -KILL "$pid" 2>/dev/null
fi
rm -rf "$2"
"#;

impl TestPostgres {
    /// The server shared by every test of this process, started on first use (or the one
    /// `DATABASE_URL` names). It is stopped when the process exits, however it exits.
    pub async fn shared() -> Result<&'static TestPostgres, HarnessError> {
        SHARED.get_or_try_init(TestPostgres::start).await
    }

    /// A server of one's own: `DATABASE_URL`'s when set, else a new local one.
    pub async fn start() -> Result<TestPostgres, HarnessError> {
        match std::env::var("DATABASE_URL") {
            Ok(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                let server = TestPostgres {
                    admin_url: url,
                    local: None,
                    next_database: AtomicU64::new(0),
                };
                server.wait_until_ready(Duration::from_secs(30)).await?;
                Ok(server)
            }
            _ => TestPostgres::start_local().await,
        }
    }

    /// A new server from the system's binaries, whatever `DATABASE_URL` says: for tests that
    /// stop and restart the server under a running load.
    pub async fn start_local() -> Result<TestPostgres, HarnessError> {
        let bin = find_bin_dir().ok_or(HarnessError::BinariesNotFound)?;
        let run_as = if current_uid() == 0 {
            Some(unprivileged_user().await?)
        } else {
            None
        };
        let root = make_root(run_as.as_ref())?;
        let data = root.join("data");
        // The watchdog comes first, so a failure anywhere below still cleans up.
        let watchdog = std::process::Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("fluxion-pg-watchdog")
            .arg(&data)
            .arg(&root)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: a Ctrl-C in the terminal must not kill it before it cleans up.
            .process_group(0)
            .spawn()
            .map_err(io("cannot start the test PostgreSQL's watchdog (sh)"))?;
        let mut server = LocalServer {
            bin,
            root,
            data,
            port: 0,
            run_as,
            watchdog: Mutex::new(Some(watchdog)),
        };
        server.init().await?;
        let mut last = None;
        for _ in 0..5 {
            server.port = free_port()?;
            match server.pg_ctl_start().await {
                Ok(()) => {
                    last = None;
                    break;
                }
                Err(e) => {
                    let log = std::fs::read_to_string(server.root.join("postgres.log"))
                        .unwrap_or_default();
                    // Another process took the port between our probe and the server's bind.
                    if log.contains("could not bind") || log.contains("already in use") {
                        last = Some(e);
                        continue;
                    }
                    return Err(e);
                }
            }
        }
        if let Some(e) = last {
            return Err(e);
        }
        let admin_url = format!("postgres://postgres@127.0.0.1:{}/postgres", server.port);
        let this = TestPostgres {
            admin_url,
            local: Some(server),
            next_database: AtomicU64::new(0),
        };
        this.wait_until_ready(Duration::from_secs(30)).await?;
        tracing::debug!(port = this.port(), "Test PostgreSQL started.");
        Ok(this)
    }

    /// The URL of the server's `postgres` database (or `DATABASE_URL` as given).
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// The URL of database `name` on this server.
    pub fn database_url(&self, name: &str) -> String {
        with_database(&self.admin_url, name)
    }

    /// The TCP port of a local server (0 for a `DATABASE_URL` server).
    pub fn port(&self) -> u16 {
        self.local.as_ref().map_or(0, |l| l.port)
    }

    /// Whether this process started the server (as opposed to using `DATABASE_URL`).
    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// Creates an empty database with a name no other test uses and returns its URL.
    pub async fn create_database(&self) -> Result<String, HarnessError> {
        let n = self.next_database.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("fluxion_test_{}_{n}_{nanos:x}", std::process::id());
        let mut conn = self.connect_admin().await?;
        // Concurrent CREATE DATABASE from the same template can collide; retry a few times.
        let mut attempt = 0;
        loop {
            match conn
                .execute(format!("CREATE DATABASE \"{name}\"").as_str())
                .await
            {
                Ok(_) => break,
                Err(e) if attempt < 5 => {
                    attempt += 1;
                    tracing::debug!(error = %e, "CREATE DATABASE failed; retrying.");
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                Err(source) => {
                    return Err(HarnessError::Connect {
                        url: self.admin_url.clone(),
                        source,
                    })
                }
            }
        }
        let _ = conn.close().await;
        Ok(self.database_url(&name))
    }

    /// Stops a local server (fast shutdown: open sessions are terminated, as in a restart).
    pub async fn stop(&self) -> Result<(), HarnessError> {
        let local = self.local.as_ref().ok_or(HarnessError::NotLocal("stop"))?;
        local.pg_ctl_stop().await
    }

    /// Starts a stopped local server again, on the same port.
    pub async fn start_again(&self) -> Result<(), HarnessError> {
        let local = self
            .local
            .as_ref()
            .ok_or(HarnessError::NotLocal("start_again"))?;
        local.pg_ctl_start().await?;
        self.wait_until_ready(Duration::from_secs(30)).await
    }

    /// Stops and starts a local server.
    pub async fn restart(&self) -> Result<(), HarnessError> {
        self.stop().await?;
        self.start_again().await
    }

    async fn connect_admin(&self) -> Result<PgConnection, HarnessError> {
        PgConnection::connect(&self.admin_url)
            .await
            .map_err(|source| HarnessError::Connect {
                url: self.admin_url.clone(),
                source,
            })
    }

    async fn wait_until_ready(&self, patience: Duration) -> Result<(), HarnessError> {
        let deadline = Instant::now() + patience;
        loop {
            match self.connect_admin().await {
                Ok(conn) => {
                    let _ = conn.close().await;
                    return Ok(());
                }
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        if let Some(local) = &self.local {
            local.shut_down();
        }
    }
}

impl LocalServer {
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut cmd = match &self.run_as {
            None => Command::new(path),
            Some(RunAs {
                uid,
                gid,
                via: PrivilegeDrop::Setpriv,
                ..
            }) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .arg("--clear-groups")
                    .arg("--")
                    .arg(path);
                c
            }
            Some(RunAs {
                user,
                via: PrivilegeDrop::Runuser,
                ..
            }) => {
                let mut c = Command::new("runuser");
                c.arg("-u").arg(user).arg("--").arg(path);
                c
            }
        };
        // A locale the system lacks makes initdb fail; the server needs none.
        cmd.env("LC_ALL", "C")
            .env_remove("PGDATA")
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    async fn run(&self, program: &str, args: &[&std::ffi::OsStr]) -> Result<(), HarnessError> {
        let mut cmd = self.command(program);
        cmd.args(args);
        let line = format!(
            "{program} {}",
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let out = cmd
            .output()
            .await
            .map_err(io(format!("cannot run {line}")))?;
        if out.status.success() {
            Ok(())
        } else {
            let mut output = String::from_utf8_lossy(&out.stderr).into_owned();
            output.push_str(&String::from_utf8_lossy(&out.stdout));
            if let Ok(log) = std::fs::read_to_string(self.root.join("postgres.log")) {
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                output.push_str("\nserver log (last lines):\n");
                output.push_str(&tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
            }
            Err(HarnessError::Command {
                command: line,
                output,
            })
        }
    }

    async fn init(&self) -> Result<(), HarnessError> {
        let data = self.data.as_os_str();
        self.run(
            "initdb",
            &[
                "-D".as_ref(),
                data,
                "-U".as_ref(),
                "postgres".as_ref(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--no-locale".as_ref(),
                "--no-sync".as_ref(),
            ],
        )
        .await?;
        let socket_dir = self.root.display().to_string().replace('\'', "''");
        // Test-only settings: nothing here must survive a crash, and the benches load millions
        // of rows. `wal_level = minimal` lets COPY into a table created in the same transaction
        // skip the WAL.
        let settings = format!(
            "\n# fluxion test harness\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{socket_dir}'\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n\
             max_connections = 300\n\
             shared_buffers = 512MB\n\
             max_wal_size = 8GB\n\
             checkpoint_timeout = 30min\n\
             wal_level = minimal\n\
             max_wal_senders = 0\n\
             log_min_messages = warning\n\
             log_min_error_statement = panic\n"
        );
        let conf = self.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).map_err(io("cannot read postgresql.conf"))?;
        text.push_str(&settings);
        std::fs::write(&conf, text).map_err(io("cannot write postgresql.conf"))?;
        Ok(())
    }

    async fn pg_ctl_start(&self) -> Result<(), HarnessError> {
        let port = format!("-p {}", self.port);
        let log = self.root.join("postgres.log");
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                self.data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-o".as_ref(),
                port.as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "start".as_ref(),
            ],
        )
        .await
    }

    async fn pg_ctl_stop(&self) -> Result<(), HarnessError> {
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                self.data.as_os_str(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "stop".as_ref(),
            ],
        )
        .await
    }

    /// Closes the watchdog's pipe and waits for it to stop the server and delete the directory.
    fn shut_down(&self) {
        let child = self
            .watchdog
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(mut child) = child {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

fn has_server_binaries(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|b| dir.join(b).is_file())
}

fn find_bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FLUXION_PG_BIN").map(PathBuf::from) {
        if has_server_binaries(&dir) {
            return Some(dir);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let initdb = dir.join("initdb");
            if initdb.is_file() {
                // Follow symlinks (/usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb)
                // so that pg_ctl and postgres come from the same installation.
                let real = std::fs::canonicalize(&initdb)
                    .ok()
                    .and_then(|p| p.parent().map(Path::to_path_buf));
                for candidate in real.into_iter().chain(std::iter::once(dir.clone())) {
                    if has_server_binaries(&candidate) {
                        return Some(candidate);
                    }
                }
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_server_binaries(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn current_uid() -> u32 {
    // The owner of /proc/self is the process's effective uid; no libc call (and no unsafe) needed.
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .ok()
        .or_else(|| {
            std::process::Command::new("id")
                .arg("-u")
                .output()
                .ok()
                .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        })
        .unwrap_or(u32::MAX)
}

async fn id_of(user: &str, flag: &str) -> Option<u32> {
    let out = Command::new("id").arg(flag).arg(user).output().await.ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(program).is_file()))
        || ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
            .iter()
            .any(|d| Path::new(d).join(program).is_file())
}

async fn unprivileged_user() -> Result<RunAs, HarnessError> {
    let candidates: Vec<String> = match std::env::var("FLUXION_PG_USER") {
        Ok(u) if !u.is_empty() => vec![u],
        _ => vec!["fluxion-test".into(), "nobody".into()],
    };
    let via = if on_path("setpriv") {
        PrivilegeDrop::Setpriv
    } else if on_path("runuser") {
        PrivilegeDrop::Runuser
    } else {
        return Err(HarnessError::NoUnprivilegedUser(
            "neither setpriv nor runuser is installed".into(),
        ));
    };
    for user in &candidates {
        if let (Some(uid), Some(gid)) = (id_of(user, "-u").await, id_of(user, "-g").await) {
            if uid != 0 {
                return Ok(RunAs {
                    user: user.clone(),
                    uid,
                    gid,
                    via,
                });
            }
        }
    }
    Err(HarnessError::NoUnprivilegedUser(format!(
        "none of the users {candidates:?} exists"
    )))
}

/// Whether `dir` and each of its ancestors can be traversed by any user.
fn world_searchable(dir: &Path) -> bool {
    dir.ancestors().all(|d| {
        std::fs::metadata(d)
            .map(|m| m.mode() & 0o001 != 0)
            .unwrap_or(false)
    })
}

fn make_root(run_as: Option<&RunAs>) -> Result<PathBuf, HarnessError> {
    let mut parent = std::env::temp_dir();
    if run_as.is_some() && !world_searchable(&parent) {
        parent = PathBuf::from("/tmp");
    }
    let dir = tempfile::Builder::new()
        .prefix("fluxion-pg-")
        .tempdir_in(&parent)
        .map_err(io(format!(
            "cannot create a temporary directory in {}",
            parent.display()
        )))?
        // The watchdog deletes it; a TempDir would delete it under a running server.
        .keep();
    if let Some(user) = run_as {
        std::os::unix::fs::chown(&dir, Some(user.uid), Some(user.gid)).map_err(io(format!(
            "cannot hand {} to user {}",
            dir.display(),
            user.user
        )))?;
    }
    Ok(dir)
}

fn free_port() -> Result<u16, HarnessError> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(io("cannot find a free port on 127.0.0.1"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(io("cannot read the probe socket's port"))
}

/// Replaces the database of a `postgres://` URL, keeping credentials, host and parameters.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| i + authority_start);
    let mut out = format!("{}/{database}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_is_replaced_in_urls() {
        assert_eq!(
            with_database("postgres://u:p@127.0.0.1:5432/postgres", "x"),
            "postgres://u:p@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgresql://127.0.0.1", "x"),
            "postgresql://127.0.0.1/x"
        );
        assert_eq!(
            with_database("postgres://127.0.0.1:5433/db?sslmode=disable", "y"),
            "postgres://127.0.0.1:5433/y?sslmode=disable"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_shared_server_hands_out_separate_databases() {
        let server = TestPostgres::shared().await.expect("test PostgreSQL");
        let (a, b) = (
            server.create_database().await.unwrap(),
            server.create_database().await.unwrap(),
        );
        assert_ne!(a, b);
        let mut conn = PgConnection::connect(&a).await.unwrap();
        conn.execute("CREATE TABLE only_here (x int)")
            .await
            .unwrap();
        let mut other = PgConnection::connect(&b).await.unwrap();
        let seen: Option<String> = sqlx::query_scalar("SELECT to_regclass('only_here')::text")
            .fetch_one(&mut other)
            .await
            .unwrap();
        assert_eq!(seen, None, "each test gets its own database");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_local_server_restarts_and_is_removed_on_drop() {
        let server = TestPostgres::start_local().await.expect("test PostgreSQL");
        let root = server.local.as_ref().unwrap().root.clone();
        assert!(root.join("data/postmaster.pid").exists());
        let url = server.create_database().await.unwrap();
        let mut conn = PgConnection::connect(&url).await.unwrap();
        conn.execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
            .await
            .unwrap();
        server.restart().await.unwrap();
        assert!(
            conn.execute("SELECT 1").await.is_err(),
            "the old session died with the restart"
        );
        let mut conn = PgConnection::connect(&url).await.unwrap();
        let x: i32 = sqlx::query_scalar("SELECT x FROM t")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(x, 1);
        drop(conn);
        drop(server);
        assert!(!root.exists(), "the temporary directory is removed on drop");
    }

    #[test]
    fn the_watchdog_cleans_up_when_its_pipe_closes() {
        // The watchdog is what cleans up after a killed test process; closing the pipe's write
        // end is exactly what the kernel does when that process dies.
        let dir = tempfile::tempdir().unwrap().keep();
        std::fs::create_dir(dir.join("data")).unwrap();
        let mut watchdog = std::process::Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("fluxion-pg-watchdog")
            .arg(dir.join("data"))
            .arg(&dir)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let mut writer = watchdog.stdin.take().unwrap();
        std::io::Write::write_all(&mut writer, b"still here\n").unwrap();
        assert!(
            watchdog.try_wait().unwrap().is_none(),
            "the watchdog waits while the pipe is open"
        );
        drop(writer);
        watchdog.wait().unwrap();
        assert!(!dir.exists());
    }
}
