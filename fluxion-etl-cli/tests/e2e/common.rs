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
