//! Running `fluxion` in a sandbox: a temporary directory, a clean environment, and helpers to
//! write configurations and read what the binary printed.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use tempfile::TempDir;

/// Variables that change what `fluxion` does; removed from every child unless a test sets them.
const AMBIENT: &[&str] = &[
    "DATABASE_URL",
    "FLUXION_CONFIG",
    "FLUXION_ADMIN",
    "AWS_EXECUTION_ENV",
    "ETL_ENVIRONMENT",
    "RUST_LOG",
];

/// One test's sandbox.
pub struct Sandbox {
    dir: TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("cannot create a temporary directory"),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// The sandbox's SQLite destination.
    pub fn db_url(&self) -> String {
        format!("sqlite://{}/x.db", self.dir.path().display())
    }

    /// Writes a file in the sandbox and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("cannot write a test file");
        path
    }

    /// Writes a configuration whose destination is the sandbox's database, followed by `rest`.
    pub fn config(&self, name: &str, rest: &str) -> PathBuf {
        let text = format!("[destination]\nurl = \"{}\"\n\n{rest}", self.db_url());
        self.write(name, &text)
    }

    /// A configuration with no stores.
    pub fn empty_config(&self) -> PathBuf {
        self.config("empty.toml", "")
    }

    /// A configuration with one KLK store whose server is a loopback port nobody listens on.
    pub fn dead_klk_config(&self) -> PathBuf {
        let port = dead_port();
        self.config(
            "klk.toml",
            &format!(
                r#"[batch]
retries = 0
retry_delay_ms = 1
connect_timeout_secs = 2
request_timeout_secs = 5

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
        )
    }

    /// `fluxion` with a clean environment, run in the sandbox.
    pub fn fluxion(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fluxion"));
        cmd.current_dir(self.dir.path());
        for var in AMBIENT {
            cmd.env_remove(var);
        }
        cmd
    }

    /// `fluxion` with only `DATABASE_URL` pointing at the sandbox's database.
    pub fn fluxion_db(&self) -> Command {
        let mut cmd = self.fluxion();
        cmd.env("DATABASE_URL", self.db_url());
        cmd
    }
}

/// A loopback port that was free a moment ago and has no listener now.
pub fn dead_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind a loopback port");
    let port = listener.local_addr().expect("no local address").port();
    drop(listener);
    port
}

/// What a child printed and how it ended.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Stdout as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    /// Fails unless the exit code is `code`.
    pub fn expect_code(self, code: i32) -> Self {
        assert_eq!(self.code, code, "unexpected exit code: {self:#?}");
        self
    }
}

/// Runs a command with arguments.
pub fn run(mut cmd: Command, args: &[&str]) -> Output {
    let out = cmd.args(args).output().expect("cannot start fluxion");
    Output {
        code: out.status.code().expect("fluxion was killed by a signal"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The keys of a JSON object, sorted.
pub fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// A `fluxion` process whose stderr is read line by line, killed (if still running) when dropped.
pub struct Watched {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    /// The stderr lines read so far.
    pub seen: Vec<String>,
}

impl Watched {
    /// Spawns `cmd` with stdout and stderr piped and waits (up to a minute) for a stderr line
    /// containing `marker`.
    pub fn until(mut cmd: Command, marker: &str) -> Watched {
        use std::io::{BufRead, BufReader};
        use std::process::Stdio;
        use std::time::{Duration, Instant};

        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut watched = Watched {
            child,
            lines,
            seen: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = watched.lines.recv_timeout(left) else {
                panic!("never saw {marker:?}; stderr so far: {:#?}", watched.seen);
            };
            let found = line.contains(marker);
            watched.seen.push(line);
            if found {
                return watched;
            }
        }
    }

    /// Sends SIGTERM (with `kill`), waits for the exit and reads the rest of stderr; returns the
    /// exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        self.seen.extend(self.lines.iter());
        exit.code()
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
