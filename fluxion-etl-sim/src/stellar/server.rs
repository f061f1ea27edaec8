//! The TDS server: accept loop, per-connection login and request handling, ATTENTION, faults.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::config::{StellarFault, StellarSimConfig};
use super::data::SimTables;
use super::faults::{FaultError, FaultState, QueryFaults};
use super::protocol::framing::{self, Message, PacketWriter};
use super::protocol::types::{utf16_to_string, ParamError, Reader};
use super::protocol::{login7, prelogin, rpc, tokens};
use super::sql::error::SqlError;
use super::sql::exec::{Fill, QueryCursor};
use super::sql::value::{SqlType, Value};
use super::sql::{self, catalog, ParsedStmt, Session};

/// Bytes of complete packets gathered before one write to the socket.
const FLUSH_BYTES: usize = 64 * 1024;
/// Pause between the last rows and the RST of a reset fault, so the rows reach the client first.
const RESET_GRACE: Duration = Duration::from_millis(50);
/// TDS 7.4, as LOGIN7 carries it (little-endian u32) and LOGINACK sends it (big-endian bytes).
const TDS_74: u32 = 0x7400_0004;
/// SQL Server 2019 RTM: 15.0.2000.
const PROGRAM_VERSION: [u8; 4] = [15, 0, 0x07, 0xD0];

struct Shared {
    config: StellarSimConfig,
    tables: Arc<SimTables>,
    faults: Mutex<FaultState>,
    faults_changed: watch::Sender<u64>,
    listening: watch::Sender<bool>,
    queries: AtomicU64,
    next_spid: AtomicU16,
    /// The packet size granted at the latest login.
    packet_size: AtomicUsize,
}

impl Shared {
    fn faults(&self) -> std::sync::MutexGuard<'_, FaultState> {
        // A panic while holding the lock cannot leave the fault list half-written: recover it.
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running Stellar simulator: a TDS 7.4 server over plain TCP serving the simulated VAD10/VAD20.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use fluxion_etl_sim::stellar::{StellarSim, StellarSimConfig};
///
/// let sim = StellarSim::start(StellarSimConfig::default(), "127.0.0.1:0".parse().unwrap()).await?;
/// println!("Stellar on {} (user fluxion / fluxion)", sim.addr());
/// sim.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub struct StellarSim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for StellarSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StellarSim")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl StellarSim {
    /// Builds the data and starts listening on `bind` (use port 0 for any free port).
    pub async fn start(mut config: StellarSimConfig, bind: SocketAddr) -> io::Result<StellarSim> {
        config
            .normalize()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let tables = Arc::new(SimTables::new(&config));
        let faults = FaultState::new(config.faults.clone());
        let (faults_changed, faults_rx) = watch::channel(0u64);
        let (listening, _) = watch::channel(true);
        let shared = Arc::new(Shared {
            config,
            tables,
            faults: Mutex::new(faults),
            faults_changed,
            listening,
            queries: AtomicU64::new(0),
            next_spid: AtomicU16::new(51),
            packet_size: AtomicUsize::new(0),
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(
            Arc::clone(&shared),
            listener,
            addr,
            shutdown_rx,
            faults_rx,
        ));
        info!(%addr, "Stellar simulator listening.");
        Ok(StellarSim {
            addr,
            shared,
            shutdown,
            task: Some(task),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The data it serves (for expected values in tests).
    pub fn tables(&self) -> &Arc<SimTables> {
        &self.shared.tables
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &StellarSimConfig {
        &self.shared.config
    }

    /// Replaces the armed faults. Query faults apply to the next query; [`RefuseConnections`]
    /// closes the listening socket shortly after (await [`wait_listening`](Self::wait_listening) to
    /// be sure), and connections that race it are reset.
    ///
    /// [`RefuseConnections`]: StellarFault::RefuseConnections
    pub fn set_faults(&self, faults: Vec<StellarFault>) {
        self.shared.faults().set(faults);
        self.shared.faults_changed.send_modify(|v| *v += 1);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.set_faults(Vec::new());
    }

    /// The armed faults.
    pub fn faults(&self) -> Vec<StellarFault> {
        self.shared.faults().list()
    }

    /// Waits until the simulator is (or is not) listening, after [`RefuseConnections`] was set or
    /// cleared.
    ///
    /// [`RefuseConnections`]: StellarFault::RefuseConnections
    pub async fn wait_listening(&self, listening: bool) {
        let mut rx = self.shared.listening.subscribe();
        let _ = rx.wait_for(|l| *l == listening).await;
    }

    /// Number of SQL batches and RPCs received since the start.
    pub fn queries(&self) -> u64 {
        self.shared.queries.load(Ordering::Relaxed)
    }

    /// The TDS packet size granted at the latest successful login (what the client asked for,
    /// or the configured `packet_size`); 0 before any.
    pub fn last_packet_size(&self) -> usize {
        self.shared.packet_size.load(Ordering::Relaxed)
    }

    /// Stops listening and closes every connection.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for StellarSim {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Runs the simulator until Ctrl-C: what `fluxion sim stellar` does.
pub async fn run_from_cli(
    bind: SocketAddr,
    user: String,
    password: String,
    config_path: Option<&Path>,
) -> io::Result<()> {
    let mut config = match config_path {
        Some(p) => StellarSimConfig::from_toml_file(p)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?,
        None => StellarSimConfig::default(),
    };
    config.user = user;
    config.password = password;
    let depots: Vec<String> = config.depots.iter().map(|d| d.code.clone()).collect();
    let sim = StellarSim::start(config, bind).await?;
    println!(
        "Stellar simulator (TDS 7.4, no TLS) listening on {} — databases VAD10, VAD20; depots {}",
        sim.addr(),
        depots.join(", ")
    );
    println!(
        "Connect with e.g.: TDSVER=7.4 tsql -H {} -p {} -U <user> -P <password>",
        sim.addr().ip(),
        sim.addr().port()
    );
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}

async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    addr: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
    mut faults_rx: watch::Receiver<u64>,
) {
    let mut listener = Some(listener);
    let mut conns = JoinSet::new();
    loop {
        let refuse = shared.faults().refuse();
        if refuse && listener.is_some() {
            listener = None;
            shared.listening.send_replace(false);
            info!(%addr, "Stellar simulator refusing connections (fault).");
        }
        if !refuse && listener.is_none() {
            match TcpListener::bind(addr).await {
                Ok(l) => {
                    listener = Some(l);
                    shared.listening.send_replace(true);
                    info!(%addr, "Stellar simulator listening again.");
                }
                Err(e) => {
                    warn!(%addr, error = %e, "Cannot listen again yet; retrying.");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                        _ = shutdown.changed() => break,
                    }
                    continue;
                }
            }
        }
        match &listener {
            Some(l) => {
                tokio::select! {
                    accepted = l.accept() => match accepted {
                        Ok((stream, peer)) => {
                            if shared.faults().refuse() {
                                reset(stream);
                                continue;
                            }
                            let shared = Arc::clone(&shared);
                            conns.spawn(async move {
                                if let Err(e) = handle_connection(shared, stream).await {
                                    debug!(%peer, error = %e, "Stellar connection ended with an error.");
                                }
                            });
                        }
                        Err(e) => {
                            warn!(error = %e, "Accept failed.");
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    },
                    _ = faults_rx.changed() => {}
                    _ = shutdown.changed() => break,
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
            None => {
                tokio::select! {
                    _ = faults_rx.changed() => {}
                    _ = shutdown.changed() => break,
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        }
    }
    drop(listener);
    shared.listening.send_replace(false);
    conns.shutdown().await;
}

/// Closes a socket with RST (SO_LINGER 0).
fn reset(stream: TcpStream) {
    let _ = socket_set_zero_linger(&stream);
    drop(stream);
}

#[allow(deprecated)]
fn socket_set_zero_linger(stream: &TcpStream) -> io::Result<()> {
    stream.set_linger(Some(Duration::ZERO))
}

/// Attention signals seen by the reader task.
struct Attention {
    rx: watch::Receiver<u64>,
    handled: u64,
    /// Attention items already acknowledged while a request ran (skip them when dequeued).
    to_skip: u64,
}

impl Attention {
    fn pending(&self) -> bool {
        *self.rx.borrow() > self.handled
    }
    fn ack(&mut self) {
        self.handled += 1;
        self.to_skip += 1;
    }
}

enum Item {
    Request(Message),
    Attention,
}

struct Conn {
    shared: Arc<Shared>,
    session: Session,
    writer: PacketWriter,
    wr: OwnedWriteHalf,
    attention: Attention,
}

/// How a statement's result ended.
enum Outcome {
    /// Completed (more statements may follow).
    Completed,
    /// An error ended the batch (ERROR + DONE written).
    Failed,
    /// ATTENTION acknowledged (DONE + ATTN written): stop.
    Cancelled,
    /// The connection was reset (fault): stop everything.
    Reset,
}

async fn handle_connection(shared: Arc<Shared>, stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let spid = shared.next_spid.fetch_add(1, Ordering::Relaxed);
    let (mut rd, mut wr) = stream.into_split();
    let mut writer = PacketWriter::new(4096, spid);

    // PRELOGIN (optional for old clients) then LOGIN7.
    let mut msg = match framing::read_message(&mut rd).await? {
        Some(m) => m,
        None => return Ok(()),
    };
    if msg.ty == framing::PRELOGIN {
        let client = prelogin::parse(&msg.data)?;
        if client.encryption == Some(prelogin::ENCRYPT_REQ) {
            debug!("Client requires encryption; the simulator answers ENCRYPT_NOT_SUP and the client will give up.");
        }
        writer.begin();
        writer
            .buf()
            .extend_from_slice(&prelogin::response(PROGRAM_VERSION, 0));
        wr.write_all(writer.finish()).await?;
        msg = match framing::read_message(&mut rd).await? {
            Some(m) => m,
            None => return Ok(()),
        };
    }
    if msg.ty != framing::LOGIN7 {
        return Err(framing_error(format!(
            "expected LOGIN7, got packet type {:#04x}",
            msg.ty
        )));
    }
    let login = login7::parse(&msg.data)?;
    let config = &shared.config;
    let database = if login.database.is_empty() {
        "VAD10".to_owned()
    } else {
        login.database.clone()
    };
    let known_db = catalog::find_database(&database);
    let credentials_ok = !login.integrated
        && login.user.eq_ignore_ascii_case(&config.user)
        && login.password == config.password
        && !shared.faults().login_failure();
    writer.begin();
    if !credentials_ok || known_db.is_none() {
        let buf = writer.buf();
        if credentials_ok {
            let e = SqlError::cannot_open_database(&database);
            put_error(buf, &e, &config.server_name);
        }
        let e = SqlError::login_failed(&login.user);
        put_error(buf, &e, &config.server_name);
        tokens::put_done(buf, tokens::DONE, tokens::DONE_ERROR, tokens::CMD_NONE, 0);
        writer.settle();
        wr.write_all(writer.finish()).await?;
        wr.shutdown().await?;
        info!(user = %login.user, "Stellar login refused.");
        return Ok(());
    }
    let database = known_db.unwrap_or("VAD10").to_owned();
    let packet_size = match (config.packet_size, login.packet_size) {
        (0, 0) => 4096,
        (0, asked) => asked.clamp(512, 32_767) as usize,
        (forced, _) => usize::from(forced),
    };
    let tds_version = match login.tds_version {
        v @ (0x7200_0002 | 0x7209_0002 | 0x730A_0003 | 0x730B_0003 | TDS_74) => v,
        _ => TDS_74,
    };
    {
        let buf = writer.buf();
        tokens::put_env_string(buf, tokens::ENV_DATABASE, &database, "master");
        put_info(
            buf,
            5701,
            2,
            &format!("Changed database context to '{database}'."),
            &config.server_name,
        );
        tokens::put_env_collation(buf, &tokens::COLLATION);
        tokens::put_env_string(buf, tokens::ENV_LANGUAGE, "us_english", "");
        put_info(
            buf,
            5703,
            1,
            "Changed language setting to us_english.",
            &config.server_name,
        );
        tokens::put_loginack(
            buf,
            tds_version.to_be_bytes(),
            "Microsoft SQL Server",
            PROGRAM_VERSION,
        );
        tokens::put_env_string(
            buf,
            tokens::ENV_PACKET_SIZE,
            &packet_size.to_string(),
            "4096",
        );
        tokens::put_done(buf, tokens::DONE, tokens::DONE_FINAL, tokens::CMD_NONE, 0);
    }
    writer.settle();
    wr.write_all(writer.finish()).await?;
    writer.set_packet_size(packet_size);
    shared.packet_size.store(packet_size, Ordering::Relaxed);
    debug!(user = %login.user, app = %login.app, spid, packet_size, "Stellar login accepted.");

    // From here on the reader runs on its own, so ATTENTION is seen while results stream.
    let (tx, mut rx) = mpsc::channel::<Item>(16);
    let (attn_tx, attn_rx) = watch::channel(0u64);
    let reader = tokio::spawn(async move {
        loop {
            match framing::read_message(&mut rd).await {
                Ok(Some(m)) if m.ty == framing::ATTENTION => {
                    attn_tx.send_modify(|n| *n += 1);
                    if tx.send(Item::Attention).await.is_err() {
                        break;
                    }
                }
                Ok(Some(m)) => {
                    if tx.send(Item::Request(m)).await.is_err() {
                        break;
                    }
                }
                Ok(None) | Err(_) => break,
            }
        }
    });

    let mut conn = Conn {
        session: Session {
            database: database.clone(),
            login_database: database,
            user: login.user.clone(),
            host: login.hostname.clone(),
            app: login.app.clone(),
            spid,
            server_name: config.server_name.clone(),
            nocount: false,
            fmtonly: false,
        },
        shared: Arc::clone(&shared),
        writer,
        wr,
        attention: Attention {
            rx: attn_rx,
            handled: 0,
            to_skip: 0,
        },
    };
    let result = conn.serve(&mut rx).await;
    reader.abort();
    result
}

fn framing_error(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn put_error(buf: &mut Vec<u8>, e: &SqlError, server: &str) {
    tokens::put_message(
        buf,
        tokens::ERROR,
        e.number,
        e.state,
        e.class,
        &e.message,
        server,
        "",
        e.line,
    );
}

fn put_info(buf: &mut Vec<u8>, number: i32, state: u8, message: &str, server: &str) {
    tokens::put_message(buf, tokens::INFO, number, state, 0, message, server, "", 0);
}

/// Whether a statement runs inside an RPC (DONEINPROC) or a batch (DONE).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Batch,
    Rpc,
}

impl Context {
    fn done_token(self) -> u8 {
        match self {
            Context::Batch => tokens::DONE,
            Context::Rpc => tokens::DONEINPROC,
        }
    }
}

impl Conn {
    async fn serve(&mut self, rx: &mut mpsc::Receiver<Item>) -> io::Result<()> {
        while let Some(item) = rx.recv().await {
            match item {
                Item::Attention => {
                    if self.attention.to_skip > 0 {
                        self.attention.to_skip -= 1;
                        continue;
                    }
                    // An attention after the response was complete still gets its acknowledgement.
                    self.attention.handled += 1;
                    self.writer.begin();
                    tokens::put_done(
                        self.writer.buf(),
                        tokens::DONE,
                        tokens::DONE_ATTN,
                        tokens::CMD_NONE,
                        0,
                    );
                    self.send_final().await?;
                }
                Item::Request(m) => {
                    if m.status & framing::STATUS_RESET_CONNECTION != 0 {
                        self.session.reset();
                    }
                    match m.ty {
                        framing::SQL_BATCH | framing::RPC => {
                            self.shared.queries.fetch_add(1, Ordering::Relaxed);
                            let outcome = if m.ty == framing::SQL_BATCH {
                                self.sql_batch(&m.data).await?
                            } else {
                                self.rpc(&m.data).await?
                            };
                            if matches!(outcome, Outcome::Reset) {
                                return Ok(());
                            }
                        }
                        framing::TRANSACTION_MANAGER => {
                            // BEGIN/COMMIT/ROLLBACK through the transaction manager: nothing to roll back here.
                            self.writer.begin();
                            tokens::put_done(
                                self.writer.buf(),
                                tokens::DONE,
                                tokens::DONE_FINAL,
                                tokens::CMD_NONE,
                                0,
                            );
                            self.send_final().await?;
                        }
                        other => {
                            return Err(framing_error(format!(
                                "unexpected packet type {other:#04x}"
                            )))
                        }
                    }
                }
            }
        }
        Ok(())
    }

    async fn send_final(&mut self) -> io::Result<()> {
        self.writer.settle();
        let bytes = self.writer.finish();
        self.wr.write_all(bytes).await?;
        self.writer.begin();
        Ok(())
    }

    async fn send_complete(&mut self) -> io::Result<()> {
        if self.writer.complete_len() > 0 {
            self.wr.write_all(self.writer.complete()).await?;
            self.writer.consume_complete();
        }
        Ok(())
    }

    async fn sql_batch(&mut self, data: &[u8]) -> io::Result<Outcome> {
        let mut r = Reader::new(data);
        rpc::skip_all_headers(&mut r)?;
        let text = utf16_to_string(r.bytes(r.remaining())?);
        debug!(spid = self.session.spid, sql = %text, "SQL batch.");
        self.writer.begin();
        let outcome = self
            .run_statements(&text, &[], Vec::new(), Context::Batch)
            .await?;
        if !matches!(outcome, Outcome::Reset) {
            self.send_final().await?;
        }
        Ok(outcome)
    }

    async fn rpc(&mut self, data: &[u8]) -> io::Result<Outcome> {
        self.writer.begin();
        let req = match rpc::parse(data) {
            Ok(r) => r,
            Err(ParamError::Protocol(e)) => return Err(e),
            Err(ParamError::Sql(e)) => {
                self.finish_rpc_error(&[e]);
                self.send_final().await?;
                return Ok(Outcome::Failed);
            }
        };
        if !req.proc.is_executesql() {
            self.finish_rpc_error(&[SqlError::unknown_procedure(&req.proc.name())]);
            self.send_final().await?;
            return Ok(Outcome::Failed);
        }
        let mut params = req.params.into_iter();
        let statement = match params.next() {
            Some(p) => match p.value {
                Value::Str(s) if p.ty.is_string() => s.into_owned(),
                _ => {
                    self.finish_rpc_error(&[SqlError::statement_not_nvarchar()]);
                    self.send_final().await?;
                    return Ok(Outcome::Failed);
                }
            },
            None => {
                self.finish_rpc_error(&[SqlError::custom(
                    201,
                    16,
                    4,
                    "Procedure or function 'sp_executesql' expects parameter '@statement', which was not supplied."
                        .to_owned(),
                )]);
                self.send_final().await?;
                return Ok(Outcome::Failed);
            }
        };
        let declaration = match params.next() {
            Some(p) => match p.value {
                Value::Str(s) => s.into_owned(),
                _ => String::new(),
            },
            None => String::new(),
        };
        debug!(spid = self.session.spid, sql = %statement, params = %declaration, "RPC sp_executesql.");
        let prepared = sql::parse_declarations(&declaration).and_then(|declared| {
            let supplied: Vec<(Option<String>, SqlType, Value<'static>)> = params
                .map(|p| (Some(p.name).filter(|n| !n.is_empty()), p.ty, p.value))
                .collect();
            sql::convert_params(&declared, supplied, &statement, &declaration)
                .map(|values| (declared, values))
        });
        let (declared, values) = match prepared {
            Ok(x) => x,
            Err(e) => {
                self.finish_rpc_error(&[e]);
                self.send_final().await?;
                return Ok(Outcome::Failed);
            }
        };
        let outcome = self
            .run_statements(&statement, &declared, values, Context::Rpc)
            .await?;
        match outcome {
            Outcome::Reset => return Ok(outcome),
            Outcome::Cancelled => {}
            Outcome::Completed => {
                let buf = self.writer.buf();
                tokens::put_return_status(buf, 0);
                tokens::put_done(
                    buf,
                    tokens::DONEPROC,
                    tokens::DONE_FINAL,
                    tokens::CMD_EXECUTE,
                    0,
                );
            }
            Outcome::Failed => {
                let buf = self.writer.buf();
                tokens::put_return_status(buf, 0);
                tokens::put_done(
                    buf,
                    tokens::DONEPROC,
                    tokens::DONE_ERROR,
                    tokens::CMD_EXECUTE,
                    0,
                );
            }
        }
        self.send_final().await?;
        Ok(outcome)
    }

    fn finish_rpc_error(&mut self, errors: &[SqlError]) {
        let server = self.shared.config.server_name.clone();
        let buf = self.writer.buf();
        for e in errors {
            put_error(buf, e, &server);
        }
        tokens::put_done(
            buf,
            tokens::DONEPROC,
            tokens::DONE_ERROR,
            tokens::CMD_EXECUTE,
            0,
        );
    }

    fn put_errors_and_done(&mut self, errors: &[SqlError], ctx: Context) {
        let server = self.shared.config.server_name.clone();
        let buf = self.writer.buf();
        for e in errors {
            put_error(buf, e, &server);
        }
        tokens::put_done(
            buf,
            ctx.done_token(),
            tokens::DONE_ERROR,
            tokens::CMD_NONE,
            0,
        );
        self.writer.settle();
    }

    /// Runs the statements of a batch (or of sp_executesql's statement), writing their tokens.
    async fn run_statements(
        &mut self,
        text: &str,
        declared: &[sql::plan::DeclaredParam],
        values: Vec<Value<'static>>,
        ctx: Context,
    ) -> io::Result<Outcome> {
        let statements = match sql::parse_batch(text) {
            Ok(s) => s,
            Err(e) => {
                self.put_errors_and_done(&[e], ctx);
                return Ok(Outcome::Failed);
            }
        };
        if statements.is_empty() {
            let buf = self.writer.buf();
            tokens::put_done(
                buf,
                ctx.done_token(),
                tokens::DONE_FINAL,
                tokens::CMD_NONE,
                0,
            );
            return Ok(Outcome::Completed);
        }
        let n = statements.len();
        for (i, stmt) in statements.into_iter().enumerate() {
            let more = if i + 1 < n || ctx == Context::Rpc {
                tokens::DONE_MORE
            } else {
                tokens::DONE_FINAL
            };
            if self.attention.pending() {
                self.ack_attention(ctx);
                return Ok(Outcome::Cancelled);
            }
            match stmt {
                ParsedStmt::Set { names, value } => {
                    let on = value.eq_ignore_ascii_case("ON");
                    for name in &names {
                        if name.eq_ignore_ascii_case("NOCOUNT") {
                            self.session.nocount = on;
                        } else if name.eq_ignore_ascii_case("FMTONLY") {
                            self.session.fmtonly = on;
                        }
                    }
                    tokens::put_done(
                        self.writer.buf(),
                        ctx.done_token(),
                        more,
                        tokens::CMD_NONE,
                        0,
                    );
                }
                ParsedStmt::Use(db) => match catalog::find_database(&db) {
                    Some(canonical) => {
                        let old =
                            std::mem::replace(&mut self.session.database, canonical.to_owned());
                        let server = self.shared.config.server_name.clone();
                        let buf = self.writer.buf();
                        tokens::put_env_string(buf, tokens::ENV_DATABASE, canonical, &old);
                        put_info(
                            buf,
                            5701,
                            1,
                            &format!("Changed database context to '{canonical}'."),
                            &server,
                        );
                        tokens::put_done(buf, ctx.done_token(), more, tokens::CMD_NONE, 0);
                    }
                    None => {
                        self.put_errors_and_done(&[SqlError::unknown_database(&db)], ctx);
                        return Ok(Outcome::Failed);
                    }
                },
                ParsedStmt::Other => {
                    tokens::put_done(
                        self.writer.buf(),
                        ctx.done_token(),
                        more,
                        tokens::CMD_NONE,
                        0,
                    );
                }
                ParsedStmt::Query(q) => {
                    let cursor = match sql::prepare_query(
                        &q,
                        &self.session,
                        declared,
                        values.clone(),
                        &self.shared.tables,
                    ) {
                        Ok(c) => c,
                        Err(errors) => {
                            self.put_errors_and_done(&errors, ctx);
                            return Ok(Outcome::Failed);
                        }
                    };
                    let faults = {
                        let touch = cursor.depots();
                        self.shared
                            .faults()
                            .take_query_faults(touch, &self.shared.tables.depots)
                    };
                    let outcome = self.stream(cursor, faults, ctx, more).await?;
                    if !matches!(outcome, Outcome::Completed) {
                        return Ok(outcome);
                    }
                }
            }
            self.writer.settle();
        }
        Ok(Outcome::Completed)
    }

    fn ack_attention(&mut self, ctx: Context) {
        let _ = ctx;
        self.attention.ack();
        tokens::put_done(
            self.writer.buf(),
            tokens::DONE,
            tokens::DONE_ATTN,
            tokens::CMD_NONE,
            0,
        );
        self.writer.settle();
    }

    /// Streams a SELECT's result with its faults, watching for ATTENTION between packets.
    async fn stream(
        &mut self,
        mut cursor: QueryCursor,
        faults: QueryFaults,
        ctx: Context,
        more: u16,
    ) -> io::Result<Outcome> {
        if faults.hang {
            // Never answer: wait for ATTENTION (acknowledged) or for the client to go away.
            loop {
                if self.attention.pending() {
                    self.ack_attention(ctx);
                    return Ok(Outcome::Cancelled);
                }
                if self.attention.rx.changed().await.is_err() {
                    return Ok(Outcome::Reset);
                }
            }
        }
        cursor.put_colmetadata(self.writer.buf());
        self.writer.settle();
        if self.session.fmtonly {
            tokens::put_done(
                self.writer.buf(),
                ctx.done_token(),
                more,
                tokens::CMD_SELECT,
                0,
            );
            return Ok(Outcome::Completed);
        }
        let limit = faults.row_limit();
        let target = if faults.slow.is_some() {
            self.writer.packet_size()
        } else {
            FLUSH_BYTES
        };
        loop {
            let budget = match limit {
                Some(l) => l.saturating_sub(cursor.rows_sent),
                None => u64::MAX,
            };
            let fill = if budget == 0 {
                Ok(Fill::More)
            } else {
                cursor.fill(&mut self.writer, budget, target)
            };
            let fill = match fill {
                Ok(f) => f,
                Err(e) => {
                    self.put_errors_and_done(&[e], ctx);
                    return Ok(Outcome::Failed);
                }
            };
            let limit_reached = limit.is_some_and(|l| cursor.rows_sent >= l);
            if limit_reached || (fill == Fill::Done && limit.is_some()) {
                // The fault fires after `after_rows` rows, or at the end of a shorter result.
                let reset_first = match (faults.reset_after, &faults.error_after) {
                    (Some(r), Some((e, _))) => r <= *e,
                    (Some(_), None) => true,
                    _ => false,
                };
                if reset_first {
                    self.send_complete().await?;
                    self.wr.flush().await?;
                    tokio::time::sleep(RESET_GRACE).await;
                    info!(
                        spid = self.session.spid,
                        rows = cursor.rows_sent,
                        "Stellar fault: connection reset mid-result."
                    );
                    let _ = self.hard_reset().await;
                    return Ok(Outcome::Reset);
                }
                if let Some((_, err)) = &faults.error_after {
                    let e = match err {
                        FaultError::Deadlock => SqlError::deadlock_victim(self.session.spid),
                        FaultError::Custom {
                            number,
                            class,
                            message,
                        } => SqlError::custom(*number, *class, 1, message.clone()),
                    };
                    info!(
                        spid = self.session.spid,
                        number = e.number,
                        rows = cursor.rows_sent,
                        "Stellar fault: error mid-result."
                    );
                    self.put_errors_and_done(&[e], ctx);
                    return Ok(Outcome::Failed);
                }
            }
            if fill == Fill::Done {
                let status = more
                    | if self.session.nocount {
                        0
                    } else {
                        tokens::DONE_COUNT
                    };
                tokens::put_done(
                    self.writer.buf(),
                    ctx.done_token(),
                    status,
                    tokens::CMD_SELECT,
                    cursor.rows_sent,
                );
                self.writer.settle();
                return Ok(Outcome::Completed);
            }
            // Send what is complete, packet by packet when slowed down.
            match faults.slow {
                Some(delay) => {
                    while self.writer.complete_len() > 0 {
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => {}
                            changed = self.attention.rx.changed() => {
                                if changed.is_err() {
                                    return Ok(Outcome::Reset);
                                }
                            }
                        }
                        if self.attention.pending() {
                            break;
                        }
                        let n = self.writer.first_packet_len();
                        self.wr.write_all(&self.writer.complete()[..n]).await?;
                        self.writer.consume_first(n);
                    }
                }
                None => self.send_complete().await?,
            }
            if self.attention.pending() {
                self.ack_attention(ctx);
                return Ok(Outcome::Cancelled);
            }
        }
    }

    /// Closes the connection with RST.
    async fn hard_reset(&mut self) -> io::Result<()> {
        let stream: &TcpStream = self.wr.as_ref();
        socket_set_zero_linger(stream)?;
        // Shutting down the write half would send FIN; dropping the socket with linger 0 sends RST.
        Ok(())
    }
}
