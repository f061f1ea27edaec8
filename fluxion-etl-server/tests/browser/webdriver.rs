//! The browser test's WebDriver side: Debian's `chromedriver`, started on a free loopback port,
//! and `fantoccini` speaking W3C WebDriver to it. [`Session`] wraps a fantoccini client with
//! the steps the test takes; each panics with the step that failed, so the test reads as a list
//! of steps and a failure names the one that broke.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// Where Debian installs the browser and its driver (overridable for other systems).
pub fn browser_paths() -> (PathBuf, PathBuf) {
    let chromium = std::env::var_os("FLUXION_TEST_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let driver = std::env::var_os("FLUXION_TEST_CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"));
    (chromium, driver)
}

/// A running `chromedriver`, killed on drop.
pub struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    /// Starts chromedriver on a free loopback port and waits until it answers `/status`.
    pub async fn start(driver: &Path, log: &Path) -> Driver {
        let port = free_port();
        let log_file = std::fs::File::create(log).expect("create the chromedriver log");
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::from(
                log_file.try_clone().expect("clone the log handle"),
            ))
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver.display()));
        let d = Driver { child, port };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(format!("{}/status", d.base())).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer on {} within 30 s (log: {})",
                d.base(),
                log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        d
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A new headless Chromium session with the flags this machine needs.
    pub async fn session(&self, chromium: &Path, profile: &Path) -> Session {
        let args = vec![
            "--headless".to_owned(),
            // Root in a container: the sandbox cannot start.
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            // Without these Chromium phones home at start and the closed network refuses it.
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-extensions".to_owned(),
            "--window-size=1400,1800".to_owned(),
            "--lang=es-VE".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": args,
                // The operators' language: the page must pick Spanish from the browser.
                "prefs": { "intl": { "accept_languages": "es-VE,es" } },
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(caps) = caps else {
            unreachable!("a JSON object literal")
        };
        let client = ClientBuilder::native()
            .capabilities(caps)
            .connect(&self.base())
            .await
            .unwrap_or_else(|e| panic!("chromedriver refused the session: {e}"));
        let id = client
            .session_id()
            .await
            .expect("the session's id")
            .expect("a session was opened");
        Session {
            client,
            driver: SocketAddr::from(([127, 0, 0, 1], self.port)),
            id,
            open: true,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port (bound then released: chromedriver takes a port number, not a socket).
pub fn free_port() -> u16 {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// One browser session. Dropping it (a failed assertion included) ends the session, so the
/// browser exits with it instead of outliving the test.
pub struct Session {
    client: Client,
    driver: SocketAddr,
    id: String,
    open: bool,
}

/// chromedriver's browser-console endpoint (`POST /session/{id}/se/log`): not in the W3C spec,
/// so not among fantoccini's commands, but fantoccini sends any command that names its URL.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

impl Session {
    /// Loads a URL.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("load {url}: {e}"));
    }

    /// Runs a script in the page (`arguments` as given) and returns its result.
    pub async fn eval(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("run `{script}`: {e}"))
    }

    /// The first element matching a CSS selector.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find {css}: {e}"))
    }

    /// Clicks an element (scrolled into view first, as a person would).
    pub async fn click(&self, el: &Element) {
        el.click()
            .await
            .unwrap_or_else(|e| panic!("click {}: {e}", el.element_id()));
    }

    /// Types into an element.
    pub async fn send_keys(&self, el: &Element, text: &str) {
        el.send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {}: {e}", el.element_id()));
    }

    /// An element's rendered text.
    pub async fn text(&self, el: &Element) -> String {
        el.text()
            .await
            .unwrap_or_else(|e| panic!("text of {}: {e}", el.element_id()))
    }

    /// Waits until `script` returns something truthy (not null/false/0/""), and returns it.
    /// Panics with `what` and the page's banner text when it does not within `timeout`.
    pub async fn wait_for(&self, what: &str, timeout: Duration, script: &str) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.eval(script, vec![]).await;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
            if Instant::now() >= deadline {
                let banner = self
                    .eval(
                        "const b = document.querySelector('#banner'); return b && !b.hidden ? b.textContent : '';",
                        vec![],
                    )
                    .await;
                panic!("timed out after {timeout:?} waiting for {what}; page banner: {banner}");
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        self.client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("screenshot: {e}"))
    }

    /// The browser console's entries since the last call (chromedriver's log endpoint).
    pub async fn console(&self) -> Vec<Value> {
        let v = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .unwrap_or_else(|e| panic!("read the browser console: {e}"));
        v.as_array().cloned().unwrap_or_default()
    }

    /// Ends the session (the browser exits).
    pub async fn quit(mut self) {
        let client = self.client.clone();
        self.open = false;
        client
            .close()
            .await
            .unwrap_or_else(|e| panic!("end the session: {e}"));
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        // Unwinding from a failed step: fantoccini's `close` needs the runtime this drop may be
        // running inside of, so one blocking HTTP/1.1 DELETE by hand ends the session.
        let Ok(mut stream) = TcpStream::connect_timeout(&self.driver, Duration::from_secs(2))
        else {
            return;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let request = format!(
            "DELETE /session/{} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.id, self.driver
        );
        if stream.write_all(request.as_bytes()).is_ok() {
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer);
        }
    }
}
