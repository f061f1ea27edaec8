//! The Stellar simulator queried with tiberius 0.13 over loopback, as the extractor will: login,
//! typed parameters, the reference queries against the expected data, multi-packet results, SQL
//! Server's errors, every fault, and ATTENTION.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use fluxion_etl_sim::stellar::{
    StellarFault, StellarSim, StellarSimConfig, REFERENCE_INVENTORY_SQL, REFERENCE_SALES_SQL,
};
use futures::TryStreamExt;
use rust_decimal::Decimal;
use tiberius::{AuthMethod, Client, ColumnType, Config, EncryptionLevel, Row};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

type Conn = Client<Compat<TcpStream>>;

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A small configuration: quick to generate in debug builds, same shapes as the default.
fn small() -> StellarSimConfig {
    StellarSimConfig {
        articles: 800,
        sales_lines_per_day: (600, 900),
        ..StellarSimConfig::default()
    }
}

async fn start(config: StellarSimConfig) -> StellarSim {
    StellarSim::start(config, loopback()).await.unwrap()
}

fn tiberius_config(addr: SocketAddr, user: &str, password: &str, database: Option<&str>) -> Config {
    let mut config = Config::new();
    config.host(addr.ip());
    config.port(addr.port());
    config.authentication(AuthMethod::sql_server(user, password));
    config.encryption(EncryptionLevel::NotSupported);
    if let Some(db) = database {
        config.database(db);
    }
    config
}

async fn connect_with(config: Config) -> tiberius::Result<Conn> {
    let tcp = TcpStream::connect(config.get_addr()).await?;
    tcp.set_nodelay(true)?;
    Client::connect(config, tcp.compat_write()).await
}

async fn connect(addr: SocketAddr) -> Conn {
    connect_with(tiberius_config(addr, "fluxion", "fluxion", None))
        .await
        .unwrap()
}

async fn rows(c: &mut Conn, sql: &str) -> Vec<Row> {
    c.simple_query(sql)
        .await
        .unwrap()
        .into_first_result()
        .await
        .unwrap()
}

fn server_error(e: tiberius::error::Error) -> (u32, u8, String) {
    match e {
        tiberius::error::Error::Server(t) => (t.code(), t.class(), t.message().to_owned()),
        other => panic!("expected a server error, got {other:?}"),
    }
}

async fn query_error(c: &mut Conn, sql: &str) -> (u32, u8, String) {
    let r = match c.simple_query(sql).await {
        Ok(stream) => stream.into_first_result().await,
        Err(e) => Err(e),
    };
    server_error(r.expect_err(sql))
}

fn str_at(r: &Row, i: usize) -> Option<&str> {
    r.get::<&str, _>(i)
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn dt(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
}

#[tokio::test]
async fn stellar_login_and_session_environment() {
    let sim = start(small()).await;
    let mut c = connect(sim.addr()).await;
    let r = rows(
        &mut c,
        "SELECT DB_NAME() AS db, @@SPID AS spid, SUSER_SNAME() AS who",
    )
    .await;
    assert_eq!(str_at(&r[0], 0), Some("VAD10"));
    assert_eq!(str_at(&r[0], 2), Some("fluxion"));
    // USE and SET are answered; unqualified names then resolve in the new database.
    let r = rows(&mut c, "SET NOCOUNT ON; USE [VAD20]; SELECT DB_NAME()").await;
    assert_eq!(str_at(&r[0], 0), Some("VAD20"));
    let r = rows(&mut c, "SELECT TOP 1 c_Numero FROM MA_TRANSACCION WHERE c_Localidad = '1413' AND f_Fecha = '2024-03-15'").await;
    assert_eq!(r.len(), 1);
    let (code, _, _) = query_error(&mut c, "SELECT TOP 1 * FROM MA_PRODUCTOS").await;
    assert_eq!(code, 208, "MA_PRODUCTOS lives in VAD10");
    let (code, _, _) = query_error(&mut c, "USE NOSUCHDB").await;
    assert_eq!(code, 911);
    // A login that names its database starts there.
    let mut c2 = connect_with(tiberius_config(
        sim.addr(),
        "FLUXION",
        "fluxion",
        Some("vad20"),
    ))
    .await
    .unwrap();
    let r = rows(&mut c2, "SELECT DB_NAME()").await;
    assert_eq!(str_at(&r[0], 0), Some("VAD20"));
    assert!(sim.queries() >= 6);
}

#[tokio::test]
async fn stellar_bad_credentials_are_18456() {
    let sim = start(small()).await;
    let e = connect_with(tiberius_config(sim.addr(), "fluxion", "wrong", None))
        .await
        .err()
        .unwrap();
    let (code, class, msg) = server_error(e);
    assert_eq!((code, class), (18456, 14));
    assert_eq!(msg, "Login failed for user 'fluxion'.");
    let e = connect_with(tiberius_config(sim.addr(), "someone", "fluxion", None))
        .await
        .err()
        .unwrap();
    assert_eq!(server_error(e).0, 18456);
    let e = connect_with(tiberius_config(
        sim.addr(),
        "fluxion",
        "fluxion",
        Some("VAD99"),
    ))
    .await
    .err()
    .unwrap();
    assert_eq!(server_error(e).0, 4060);
    // The login-failure fault refuses even good credentials, until cleared.
    sim.set_faults(vec![StellarFault::LoginFailure]);
    let e = connect_with(tiberius_config(sim.addr(), "fluxion", "fluxion", None))
        .await
        .err()
        .unwrap();
    assert_eq!(server_error(e).0, 18456);
    sim.clear_faults();
    connect(sim.addr()).await;
}

#[tokio::test]
async fn stellar_parameters_of_every_type_round_trip() {
    let sim = start(small()).await;
    let mut c = connect(sim.addr()).await;
    let when = dt("2024-03-15 10:30:15");
    let day = date("2024-03-15");
    let price = Decimal::new(-12345, 3);
    let none: Option<i32> = None;
    let r = c
        .query(
            "SELECT @P1 AS s, @P2 AS i, @P3 AS b, @P4 AS d, @P5 AS dt2, @P6 AS day, @P7 AS f, @P8 AS bit, @P9 AS n",
            &[&"ÑANDÚ 1 KG", &42i32, &(1i64 << 40), &price, &when, &day, &2.5f64, &true, &none],
        )
        .await
        .unwrap()
        .into_first_result()
        .await
        .unwrap();
    let row = &r[0];
    assert_eq!(row.get::<&str, _>(0), Some("ÑANDÚ 1 KG"));
    assert_eq!(row.get::<i32, _>(1), Some(42));
    assert_eq!(row.get::<i64, _>(2), Some(1i64 << 40));
    assert_eq!(row.get::<Decimal, _>(3), Some(price));
    assert_eq!(row.get::<NaiveDateTime, _>(4), Some(when));
    assert_eq!(row.get::<NaiveDate, _>(5), Some(day));
    assert_eq!(row.get::<f64, _>(6), Some(2.5));
    assert_eq!(row.get::<bool, _>(7), Some(true));
    assert_eq!(row.get::<i32, _>(8), None);
    let types: Vec<ColumnType> = row.columns().iter().map(|c| c.column_type()).collect();
    assert_eq!(
        types,
        vec![
            ColumnType::NVarchar,
            ColumnType::Int4,
            ColumnType::Int8,
            ColumnType::Decimaln,
            ColumnType::Datetime2,
            ColumnType::Daten,
            ColumnType::Float8,
            ColumnType::Bitn,
            ColumnType::Int4
        ]
    );
    // Parameters in WHERE: a DATETIME2 bound compares with DATETIME columns; strings compare
    // case-insensitively and ignoring trailing spaces.
    let r = c
        .query(
            "SELECT COUNT(*) FROM VAD20.dbo.MA_TRANSACCION WHERE c_Localidad = @P1 AND f_Fecha >= @P2 AND f_Fecha < @P3",
            &[&"1710  ", &dt("2024-03-15 00:00:00"), &dt("2024-03-16 00:00:00")],
        )
        .await
        .unwrap()
        .into_first_result()
        .await
        .unwrap();
    let expected = sim.tables().sales_day("1710", day).lines.len() as i32;
    assert_eq!(r[0].get::<i32, _>(0), Some(expected));
}

#[tokio::test]
async fn stellar_reference_inventory_query_returns_the_expected_rows() {
    let sim = start(StellarSimConfig::default()).await;
    let mut c = connect(sim.addr()).await;
    for depot in ["1413", "1710", "0802"] {
        let got = c
            .query(REFERENCE_INVENTORY_SQL, &[&depot])
            .await
            .unwrap()
            .into_first_result()
            .await
            .unwrap();
        let expected = sim.tables().expected_inventory(depot);
        assert!(expected.len() > 100, "{depot}: {}", expected.len());
        assert_eq!(got.len(), expected.len(), "{depot}");
        for (r, e) in got.iter().zip(&expected) {
            assert_eq!(r.get::<&str, _>("deposito"), Some(e.depot.as_str()));
            assert_eq!(r.get::<&str, _>("codigo"), Some(e.article.as_str()));
            assert_eq!(r.get::<&str, _>("codigo_barra"), Some(e.barcode.as_str()));
            assert_eq!(
                r.get::<&str, _>("descripcion"),
                Some(e.description.as_str())
            );
            assert_eq!(r.get::<&str, _>("categoria"), Some(e.category.as_str()));
            assert_eq!(r.get::<&str, _>("grupo"), e.group.as_deref());
            assert_eq!(r.get::<&str, _>("subgrupo"), e.subgroup.as_deref());
            assert_eq!(r.get::<&str, _>("marca"), Some(e.brand.as_str()));
            assert_eq!(r.get::<&str, _>("cuadrante"), e.quadrant.as_deref());
            assert_eq!(r.get::<Decimal, _>("costo"), Some(e.cost));
            assert_eq!(r.get::<Decimal, _>("precio"), Some(e.price));
            assert_eq!(r.get::<Decimal, _>("impuesto"), Some(e.tax_rate));
            assert_eq!(
                r.get::<&str, _>("presentacion"),
                Some(e.presentation.as_str())
            );
            assert_eq!(r.get::<f64, _>("peso"), Some(e.weight));
            assert_eq!(r.get::<f64, _>("volumen"), Some(e.volume));
            assert_eq!(
                r.get::<f64, _>("unidades_por_bulto"),
                Some(e.units_per_case)
            );
            assert_eq!(r.get::<f64, _>("existencia"), Some(e.stock));
        }
        // The filters are real: PROCURA, by-weight and inactive articles are out, CB is renamed.
        assert!(expected
            .iter()
            .all(|e| e.category != "PROCURA" && e.category != "CB"));
    }
    assert!(sim
        .tables()
        .expected_inventory("1413")
        .iter()
        .any(|e| e.category == "CANASTA BASICA"));
    assert!(sim
        .tables()
        .expected_inventory("1413")
        .iter()
        .any(|e| e.stock < 0.0));
    assert!(sim
        .tables()
        .expected_inventory("0802")
        .iter()
        .any(|e| e.subgroup.is_none()));
}

#[tokio::test]
async fn stellar_reference_sales_query_in_keyset_chunks_returns_the_expected_lines() {
    let sim = start(StellarSimConfig::default()).await;
    let mut c = connect(sim.addr()).await;
    // A window across midnight, in chunks of 4,000 lines.
    let (from, to) = (dt("2024-03-15 18:00:00"), dt("2024-03-16 10:00:00"));
    let chunk = 4000i32;
    let mut got: Vec<Row> = Vec::new();
    let (mut last_numero, mut last_linea) = (String::new(), 0i32);
    let mut chunks = 0;
    loop {
        let part = c
            .query(
                REFERENCE_SALES_SQL,
                &[
                    &"1413",
                    &from,
                    &to,
                    &last_numero.as_str(),
                    &last_linea,
                    &chunk,
                ],
            )
            .await
            .unwrap()
            .into_first_result()
            .await
            .unwrap();
        chunks += 1;
        let n = part.len();
        if let Some(last) = part.last() {
            last_numero = last.get::<&str, _>("numero").unwrap().to_owned();
            last_linea = last.get::<i32, _>("linea").unwrap();
        }
        got.extend(part);
        if n < chunk as usize {
            break;
        }
    }
    let expected = sim.tables().expected_sales("1413", from, to);
    assert!(expected.len() > 8000, "{}", expected.len());
    assert!(chunks >= 3);
    assert_eq!(got.len(), expected.len());
    for (r, e) in got.iter().zip(&expected) {
        assert_eq!(r.get::<&str, _>("localidad"), Some(e.locality.as_str()));
        assert_eq!(r.get::<&str, _>("numero"), Some(e.receipt.as_str()));
        assert_eq!(r.get::<i32, _>("linea"), Some(e.line));
        assert_eq!(r.get::<&str, _>("caja"), Some(e.till.as_str()));
        assert_eq!(r.get::<NaiveDateTime, _>("fecha_hora"), Some(e.datetime));
        assert_eq!(
            r.get::<&str, _>("codigo_escaneado"),
            Some(e.scanned_code.as_str())
        );
        assert_eq!(r.get::<&str, _>("codigo"), Some(e.article.as_str()));
        assert_eq!(r.get::<&str, _>("categoria"), Some(e.category.as_str()));
        assert_eq!(r.get::<&str, _>("subgrupo"), e.subgroup.as_deref());
        assert_eq!(r.get::<Decimal, _>("cantidad"), Some(e.quantity));
        assert_eq!(r.get::<Decimal, _>("precio"), Some(e.price));
        assert_eq!(r.get::<Decimal, _>("subtotal"), Some(e.subtotal));
        assert_eq!(r.get::<Decimal, _>("descuento"), Some(e.discount));
        assert_eq!(r.get::<Decimal, _>("impuesto"), Some(e.tax));
        assert_eq!(r.get::<Decimal, _>("total"), Some(e.total));
        assert_eq!(r.get::<Decimal, _>("costo"), Some(e.cost));
        assert_eq!(r.get::<&str, _>("concepto"), Some(e.concept.as_str()));
        assert_eq!(r.get::<i64, _>("id"), Some(e.id));
    }
    assert!(got
        .iter()
        .any(|r| r.get::<NaiveDateTime, _>("fecha_hora").unwrap().date() == date("2024-03-16")));
}

#[tokio::test]
async fn stellar_results_span_many_packets_at_the_negotiated_size() {
    // The simulator imposes 512-byte packets: every ROW of MA_PRODUCTOS straddles packets.
    let sim = start(StellarSimConfig {
        packet_size: 512,
        ..small()
    })
    .await;
    let mut c = connect(sim.addr()).await;
    let got = rows(&mut c, "SELECT * FROM VAD10.dbo.MA_PRODUCTOS ORDER BY ID").await;
    let products = sim.tables().products();
    assert_eq!(got.len(), products.len());
    for (r, p) in got.iter().zip(products) {
        assert_eq!(r.get::<&str, _>("c_Codigo"), Some(p.code.as_str()));
        assert_eq!(r.get::<&str, _>("c_Descri"), Some(p.description.as_str()));
        assert_eq!(r.get::<&str, _>("Text2"), p.quadrant.as_deref());
        assert_eq!(r.get::<Decimal, _>("n_CostoAct"), Some(p.cost));
        assert_eq!(r.get::<bool, _>("n_Activo"), Some(p.active));
        assert_eq!(r.get::<NaiveDateTime, _>("Update_Date"), Some(p.updated));
        assert_eq!(r.get::<i32, _>("ID"), Some(p.id));
    }
    // The client's own packet size is honoured when the simulator does not impose one.
    let sim2 = start(small()).await;
    let mut config = tiberius_config(sim2.addr(), "fluxion", "fluxion", None);
    config.packet_size(16384);
    let mut c2 = connect_with(config).await.unwrap();
    assert_eq!(sim2.last_packet_size(), 16384);
    let got = rows(
        &mut c2,
        "SELECT c_CodNasa, c_Codigo FROM VAD10.dbo.MA_CODIGOS",
    )
    .await;
    assert_eq!(got.len(), sim2.tables().codes().len());
}

#[tokio::test]
async fn stellar_sql_errors_have_sql_server_numbers_and_the_connection_survives() {
    let sim = start(small()).await;
    let mut c = connect(sim.addr()).await;
    let cases: &[(&str, u32)] = &[
        ("SELECT * FROM VAD10.dbo.MA_PRODUCTOZ", 208),
        ("SELECT * FROM VAD30.dbo.MA_PRODUCTOS", 208),
        ("SELECT * FROM VAD10.sales.MA_PRODUCTOS", 208),
        ("SELECT c_Codig FROM VAD10.dbo.MA_PRODUCTOS", 207),
        ("SELECT P.c_Codigo FROM VAD10.dbo.MA_PRODUCTOS AS X", 4104),
        ("SELECT c_Codigo FROM VAD10.dbo.MA_PRODUCTOS P JOIN VAD10.dbo.MA_CODIGOS C ON C.c_CodNasa = P.c_Codigo", 209),
        ("SELEC * FROM VAD10.dbo.MA_PRODUCTOS", 102),
        ("SELECT c_Codigo FROM VAD10.dbo.MA_PRODUCTOS WHERE", 156),
        ("SELECT c_Codigo, FROM VAD10.dbo.MA_PRODUCTOS", 156),
        ("SELECT c_Codigo FROM VAD10.dbo.MA_PRODUCTOS WHERE c_Codigo = @P9", 137),
        ("SELECT foo(1)", 195),
        ("SELECT c_Codigo FROM VAD10.dbo.MA_PRODUCTOS WHERE c_Descri = 5", 245),
        ("SELECT TOP 5 c_Codigo FROM VAD10.dbo.MA_PRODUCTOS ORDER BY c_Codigo OFFSET 1 ROWS", 10741),
        ("SELECT c_Departamento, COUNT(*), c_Grupo FROM VAD10.dbo.MA_PRODUCTOS GROUP BY c_Departamento", 8120),
        ("SELECT * FROM (SELECT 1 AS a) x", 50000),
        // Years of sales of every depot cannot be grouped in memory: the simulator says so.
        ("SELECT COUNT(*) FROM VAD20.dbo.MA_TRANSACCION", 50001),
    ];
    for (sql, code) in cases {
        let (got, class, msg) = query_error(&mut c, sql).await;
        assert_eq!(got, *code, "{sql}: {msg}");
        assert!(class >= 15, "{sql}");
    }
    // The exact texts SQL Server uses.
    assert_eq!(
        query_error(&mut c, "SELECT * FROM VAD10.dbo.MA_PRODUCTOZ")
            .await
            .2,
        "Invalid object name 'VAD10.dbo.MA_PRODUCTOZ'."
    );
    assert_eq!(
        query_error(&mut c, "SELECT n_Precio FROM VAD10.dbo.MA_PRODUCTOS")
            .await
            .2,
        "Invalid column name 'n_Precio'."
    );
    // A runtime error after some rows: the rows come first, then the error (8134).
    let mut stream = c
        .simple_query("SELECT TOP 10 1 / (5 - ID) AS x FROM VAD10.dbo.MA_PRODUCTOS ORDER BY ID")
        .await
        .unwrap()
        .into_row_stream();
    let mut seen = 0;
    let err = loop {
        match stream.try_next().await {
            Ok(Some(_)) => seen += 1,
            Ok(None) => panic!("expected divide by zero"),
            Err(e) => break e,
        }
    };
    drop(stream);
    assert_eq!(seen, 4);
    assert_eq!(server_error(err).0, 8134);
    // Without ORDER BY, a scan streams: TOP over years of sales reads only the first days.
    let r = rows(&mut c, "SELECT TOP 5 * FROM VAD20.dbo.MA_TRANSACCION").await;
    assert_eq!(r.len(), 5);
    // Still usable.
    let r = rows(&mut c, "SELECT 1").await;
    assert_eq!(r[0].get::<i32, _>(0), Some(1));
}

async fn collect_until_error(
    c: &mut Conn,
    sql: &str,
    depot: &str,
) -> (usize, tiberius::error::Error) {
    let mut stream = c.query(sql, &[&depot]).await.map(|s| s.into_row_stream());
    let mut n = 0;
    match &mut stream {
        Err(_) => {}
        Ok(s) => loop {
            match s.try_next().await {
                Ok(Some(_)) => n += 1,
                Ok(None) => panic!("expected the result to fail"),
                Err(e) => return (n, e),
            }
        },
    }
    (0, stream.err().unwrap())
}

#[tokio::test]
async fn stellar_deadlock_fault_sends_rows_then_1205_for_its_depot_only() {
    let sim = start(small()).await;
    assert!(sim.tables().expected_inventory("1710").len() > 60);
    sim.set_faults(vec![StellarFault::Deadlock {
        depot: Some("1710".into()),
        after_rows: 60,
        times: Some(1),
    }]);
    let mut c = connect(sim.addr()).await;
    // Another depot is not affected.
    let seco = c
        .query(REFERENCE_INVENTORY_SQL, &[&"1413"])
        .await
        .unwrap()
        .into_first_result()
        .await
        .unwrap();
    assert_eq!(seco.len(), sim.tables().expected_inventory("1413").len());
    let (n, e) = collect_until_error(&mut c, REFERENCE_INVENTORY_SQL, "1710").await;
    assert_eq!(n, 60);
    let (code, class, msg) = server_error(e);
    assert_eq!((code, class), (1205, 13));
    assert!(msg.contains("deadlock victim"), "{msg}");
    // Used up: the retry succeeds, on the same connection.
    let frio = c
        .query(REFERENCE_INVENTORY_SQL, &[&"1710"])
        .await
        .unwrap()
        .into_first_result()
        .await
        .unwrap();
    assert_eq!(frio.len(), sim.tables().expected_inventory("1710").len());
}

#[tokio::test]
async fn stellar_reset_mid_result_gives_rows_then_an_io_error() {
    let sim = start(small()).await;
    sim.set_faults(vec![StellarFault::ResetMidResult {
        depot: Some("1413".into()),
        after_rows: 150,
        times: None,
    }]);
    let mut c = connect(sim.addr()).await;
    let (n, e) = collect_until_error(&mut c, REFERENCE_INVENTORY_SQL, "1413").await;
    assert!(n <= 150, "{n}");
    match e {
        tiberius::error::Error::Io { kind, .. } => assert!(
            matches!(
                kind,
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            ),
            "{kind:?}"
        ),
        other => panic!("expected an I/O error, got {other:?}"),
    }
    // Other depots on a new connection are fine.
    let mut c2 = connect(sim.addr()).await;
    let frio = c2
        .query(REFERENCE_INVENTORY_SQL, &[&"1710"])
        .await
        .unwrap()
        .into_first_result()
        .await
        .unwrap();
    assert_eq!(frio.len(), sim.tables().expected_inventory("1710").len());
}

#[tokio::test]
async fn stellar_a_query_that_never_answers_is_cancelled_with_attention() {
    let sim = start(small()).await;
    sim.set_faults(vec![StellarFault::NeverAnswer {
        depot: None,
        times: Some(1),
    }]);
    let mut c = connect(sim.addr()).await;
    let waited = tokio::time::timeout(Duration::from_millis(400), async {
        c.query(
            "SELECT COUNT(*) FROM VAD10.dbo.MA_PRODUCTOS WHERE c_Codigo > @P1",
            &[&"0"],
        )
        .await
        .map(|_| ())
    })
    .await;
    assert!(waited.is_err(), "the query must hang");
    // ATTENTION: the simulator answers DONE with the attention bit and the connection is reusable.
    tokio::time::timeout(Duration::from_secs(5), c.cancel_query())
        .await
        .expect("attention acknowledged")
        .unwrap();
    let r = rows(&mut c, "SELECT COUNT(*) FROM VAD10.dbo.MA_PRODUCTOS").await;
    assert_eq!(
        r[0].get::<i32, _>(0),
        Some(sim.tables().products().len() as i32)
    );
    // An ATTENTION with nothing running is acknowledged too.
    c.cancel_query().await.unwrap();
    let r = rows(&mut c, "SELECT 7").await;
    assert_eq!(r[0].get::<i32, _>(0), Some(7));
}

#[tokio::test]
async fn stellar_cancel_mid_result_stops_the_rows() {
    let sim = start(small()).await;
    let mut c = connect(sim.addr()).await;
    {
        let mut stream = c
            .query(
                "SELECT T.* FROM VAD20.dbo.MA_TRANSACCION T WHERE T.f_Fecha >= @P1 AND T.f_Fecha < @P2",
                &[&dt("2024-02-01 00:00:00"), &dt("2024-03-01 00:00:00")],
            )
            .await
            .unwrap()
            .into_row_stream();
        for _ in 0..50 {
            stream.try_next().await.unwrap().unwrap();
        }
    }
    tokio::time::timeout(Duration::from_secs(10), c.cancel_query())
        .await
        .expect("attention acknowledged")
        .unwrap();
    let r = rows(
        &mut c,
        "SELECT TOP 2 c_Codigo FROM VAD10.dbo.MA_PRODUCTOS ORDER BY c_Codigo DESC",
    )
    .await;
    assert_eq!(r.len(), 2);
    let last = sim
        .tables()
        .products()
        .iter()
        .map(|p| p.code.clone())
        .max()
        .unwrap();
    assert_eq!(r[0].get::<&str, _>(0), Some(last.as_str()));
}

#[tokio::test]
async fn stellar_slow_rows_stall_between_packets() {
    let sim = start(small()).await;
    sim.set_faults(vec![StellarFault::SlowRows {
        depot: None,
        delay_ms: 60,
        times: Some(1),
    }]);
    let mut c = connect(sim.addr()).await;
    let t = Instant::now();
    let r = rows(
        &mut c,
        "SELECT c_CodNasa, c_Codigo, c_Descripcion FROM VAD10.dbo.MA_CODIGOS",
    )
    .await;
    let elapsed = t.elapsed();
    assert_eq!(r.len(), sim.tables().codes().len());
    // Over 20 KB of rows: at least five 4 KB packets, each held back 60 ms.
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    // A stall longer than the client's command timeout surfaces as a timeout.
    sim.set_faults(vec![StellarFault::SlowRows {
        depot: None,
        delay_ms: 1500,
        times: Some(1),
    }]);
    let mut config = tiberius_config(sim.addr(), "fluxion", "fluxion", None);
    config.command_timeout(Some(Duration::from_millis(300)));
    let mut c2 = connect_with(config).await.unwrap();
    let e = match c2.simple_query("SELECT * FROM VAD10.dbo.MA_CODIGOS").await {
        Ok(s) => s.into_first_result().await.err().unwrap(),
        Err(e) => e,
    };
    assert!(
        matches!(
            e,
            tiberius::error::Error::Io {
                kind: std::io::ErrorKind::TimedOut,
                ..
            }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn stellar_refused_connections_then_listening_again() {
    let sim = start(small()).await;
    sim.set_faults(vec![StellarFault::RefuseConnections]);
    sim.wait_listening(false).await;
    let e = TcpStream::connect(sim.addr()).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
    sim.clear_faults();
    sim.wait_listening(true).await;
    let mut c = connect(sim.addr()).await;
    assert_eq!(rows(&mut c, "SELECT 1").await.len(), 1);
}

#[tokio::test]
async fn stellar_select_features_over_the_tables() {
    let sim = start(small()).await;
    let t = sim.tables().clone();
    let mut c = connect(sim.addr()).await;

    // GROUP BY with COUNT, ORDER BY an alias.
    let got = rows(
        &mut c,
        "SELECT c_Departamento AS dep, COUNT(*) AS n FROM VAD10.dbo.MA_PRODUCTOS GROUP BY c_Departamento ORDER BY dep",
    )
    .await;
    let mut expected: std::collections::BTreeMap<&str, i32> = Default::default();
    for p in t.products() {
        *expected.entry(p.department.as_str()).or_default() += 1;
    }
    let got: Vec<(String, i32)> = got
        .iter()
        .map(|r| {
            (
                r.get::<&str, _>(0).unwrap().to_owned(),
                r.get::<i32, _>(1).unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, i32)> = expected
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    assert_eq!(got, expected);

    // OFFSET/FETCH and TOP with parameters; ORDER BY position, descending.
    let page = c
        .query(
            "SELECT c_Codigo FROM VAD10.dbo.MA_PRODUCTOS ORDER BY 1 DESC OFFSET @P1 ROWS FETCH NEXT @P2 ROWS ONLY",
            &[&10i32, &5i32],
        )
        .await
        .unwrap()
        .into_first_result()
        .await
        .unwrap();
    let mut codes: Vec<&str> = t.products().iter().map(|p| p.code.as_str()).collect();
    codes.sort_unstable_by(|a, b| b.cmp(a));
    let page: Vec<&str> = page.iter().map(|r| r.get::<&str, _>(0).unwrap()).collect();
    assert_eq!(page, codes[10..15].to_vec());
    let top = c
        .query(
            "SELECT TOP (@P1) c_Codigo FROM VAD10.dbo.MA_PRODUCTOS ORDER BY c_Codigo",
            &[&3i32],
        )
        .await
        .unwrap()
        .into_first_result()
        .await
        .unwrap();
    assert_eq!(top.len(), 3);

    // IN, BETWEEN, LIKE, IS NULL, CASE, DISTINCT.
    let got = rows(
        &mut c,
        "SELECT DISTINCT C_CODIGO, CASE WHEN C_DESCRIPCIO = 'CB' THEN 'CANASTA BASICA' ELSE C_DESCRIPCIO END \
         FROM VAD10.dbo.MA_DEPARTAMENTOS WHERE C_CODIGO IN ('000012', '000017') OR C_CODIGO BETWEEN '000001' AND '000002' \
         ORDER BY C_CODIGO",
    )
    .await;
    let got: Vec<&str> = got.iter().map(|r| r.get::<&str, _>(1).unwrap()).collect();
    assert_eq!(
        got,
        vec!["VIVERES", "CHARCUTERIA", "CANASTA BASICA", "PROCURA"]
    );
    // DISTINCT over a join compares values, not joined rows: every code of every article
    // collapses to the article's brand and group (many articles, one brand), and a brand
    // spelt in another case is the same brand (case-insensitive collation).
    let got = rows(
        &mut c,
        "SELECT DISTINCT UPPER(C.c_Descripcion) AS kind, P.c_Marca, LOWER(P.c_Marca) AS lower_brand, P.c_Grupo \
         FROM VAD10.dbo.MA_CODIGOS C INNER JOIN VAD10.dbo.MA_PRODUCTOS P ON P.c_Codigo = C.c_CodNasa",
    )
    .await;
    let mut got: Vec<(String, String, String)> = got
        .iter()
        .map(|r| {
            (
                r.get::<&str, _>(0).unwrap().to_owned(),
                r.get::<&str, _>(1).unwrap().trim_end().to_uppercase(),
                r.get::<&str, _>(3).unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String, String)> = t
        .codes()
        .iter()
        .map(|code| {
            let p = t
                .products()
                .iter()
                .find(|p| p.code == code.article)
                .unwrap();
            (
                code.kind.to_uppercase(),
                p.brand.trim_end().to_uppercase(),
                p.group.clone(),
            )
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    want.sort();
    assert!(
        want.len() < t.codes().len(),
        "joined rows repeat another's values: {} of {}",
        want.len(),
        t.codes().len()
    );
    assert_eq!(got, want);

    let like = rows(
        &mut c,
        "SELECT COUNT(*) FROM VAD10.dbo.MA_PRODUCTOS WHERE c_Descri LIKE 'arroz%'",
    )
    .await;
    let n = t
        .products()
        .iter()
        .filter(|p| p.description.starts_with("ARROZ"))
        .count() as i32;
    assert_eq!(like[0].get::<i32, _>(0), Some(n));
    let nulls = rows(
        &mut c,
        "SELECT COUNT(*) FROM VAD10.dbo.MA_PRODUCTOS WHERE Text2 IS NULL",
    )
    .await;
    let n = t.products().iter().filter(|p| p.quadrant.is_none()).count() as i32;
    assert_eq!(nulls[0].get::<i32, _>(0), Some(n));

    // LEFT JOIN keeps articles whose subgroup does not exist, with NULLs.
    let got = rows(
        &mut c,
        "SELECT P.c_Codigo, S.c_DESCRIPCIO FROM VAD10.dbo.MA_PRODUCTOS P \
         LEFT JOIN VAD10.dbo.MA_SUBGRUPOS S ON S.c_CODIGO = P.c_Subgrupo AND S.c_GRUPO = P.c_Grupo \
         WHERE S.c_CODIGO IS NULL",
    )
    .await;
    let orphans = t
        .products()
        .iter()
        .filter(|p| p.subgroup == "000099")
        .count();
    assert_eq!(got.len(), orphans);
    assert!(got.iter().all(|r| r.get::<&str, _>(1).is_none()));

    // Stock: negative values are served as they are.
    let neg = c
        .query("SELECT COUNT(*) FROM VAD10.dbo.MA_DEPOPROD WHERE c_coddeposito = @P1 AND n_cantidad < 0", &[&"1413"])
        .await
        .unwrap()
        .into_first_result()
        .await
        .unwrap();
    let n = t.stock("1413").iter().filter(|s| s.quantity < 0.0).count() as i32;
    assert!(n > 0);
    assert_eq!(neg[0].get::<i32, _>(0), Some(n));

    // SUM over a day's receipts equals the sum of its lines.
    let sums = rows(
        &mut c,
        "SELECT SUM(T.Total) FROM VAD20.dbo.MA_TRANSACCION T WHERE T.c_Localidad = '1801' AND T.f_Fecha = '2024-03-15'",
    )
    .await;
    let sum_pagos = rows(
        &mut c,
        "SELECT SUM(n_Total), COUNT(*) FROM VAD20.dbo.MA_PAGOS WHERE c_Sucursal = '1801' AND f_Fecha = '2024-03-15'",
    )
    .await;
    assert_eq!(
        sums[0].get::<Decimal, _>(0),
        sum_pagos[0].get::<Decimal, _>(0)
    );
    let day = t.sales_day("1801", date("2024-03-15"));
    assert_eq!(
        sum_pagos[0].get::<i32, _>(1),
        Some(day.receipts.len() as i32)
    );

    // Types served: DATE, TIME, DATETIME2, DATETIMEOFFSET, NVARCHAR(MAX), NUMERIC, REAL.
    let r = rows(
        &mut c,
        "SELECT CAST('2024-01-02' AS DATE), CAST('10:11:12.5' AS TIME(3)), CAST('2024-01-02 03:04:05.1234567' AS DATETIME2), \
         CAST(c_Descri AS NVARCHAR(MAX)), CAST(-0.5 AS NUMERIC(10,2)), CAST(1.5 AS REAL) \
         FROM VAD10.dbo.MA_PRODUCTOS WHERE ID = 1",
    )
    .await;
    let row = &r[0];
    assert_eq!(row.get::<NaiveDate, _>(0), Some(date("2024-01-02")));
    assert_eq!(
        row.get::<NaiveTime, _>(1),
        Some(NaiveTime::from_hms_milli_opt(10, 11, 12, 500).unwrap())
    );
    assert_eq!(
        row.get::<NaiveDateTime, _>(2),
        Some(dt("2024-01-02 03:04:05") + chrono::Duration::nanoseconds(123_456_700))
    );
    assert_eq!(
        row.get::<&str, _>(3),
        Some(t.products()[0].description.as_str())
    );
    assert_eq!(row.get::<Decimal, _>(4), Some(Decimal::new(-50, 2)));
    assert_eq!(row.get::<f32, _>(5), Some(1.5));
}

#[tokio::test]
async fn stellar_date_plus_time_follows_sql_server_datetime_arithmetic() {
    // Times stored on 1900-01-01 (the default): the raw sum and the cast-each-part sum agree.
    let sim = start(small()).await;
    let mut c = connect(sim.addr()).await;
    let q = "SELECT TOP 1 f_Fecha + h_Hora AS raw, \
             CAST(CAST(f_Fecha AS DATE) AS DATETIME) + CAST(CAST(h_Hora AS TIME) AS DATETIME) AS safe, h_Hora \
             FROM VAD20.dbo.MA_TRANSACCION WHERE c_Localidad = '1413' AND f_Fecha = '2024-03-15' ORDER BY ID";
    let r = rows(&mut c, q).await;
    let first = sim.tables().sales_day("1413", date("2024-03-15"));
    let expected = date("2024-03-15").and_time(first.receipts[0].time);
    assert_eq!(r[0].get::<NaiveDateTime, _>("raw"), Some(expected));
    assert_eq!(r[0].get::<NaiveDateTime, _>("safe"), Some(expected));
    assert_eq!(
        r[0].get::<NaiveDateTime, _>("h_Hora").unwrap().date(),
        date("1900-01-01")
    );
    // Times stored on VB6's 1899-12-30: the raw sum lands two days early; casting each part does not.
    let vb6 = start(StellarSimConfig {
        hora_base_date: date("1899-12-30"),
        ..small()
    })
    .await;
    let mut c = connect(vb6.addr()).await;
    let r = rows(&mut c, q).await;
    let first = vb6.tables().sales_day("1413", date("2024-03-15"));
    let expected = date("2024-03-15").and_time(first.receipts[0].time);
    assert_eq!(
        r[0].get::<NaiveDateTime, _>("raw"),
        Some(expected - chrono::Duration::days(2))
    );
    assert_eq!(r[0].get::<NaiveDateTime, _>("safe"), Some(expected));
    // DATETIME2 values cannot be added at all (8117), as in SQL Server.
    let (code, _, _) = query_error(
        &mut c,
        "SELECT CAST(f_Fecha AS DATETIME2) + CAST(h_Hora AS DATETIME2) FROM VAD20.dbo.MA_PAGOS",
    )
    .await;
    assert_eq!(code, 8117);
}

#[tokio::test]
async fn stellar_fmtonly_returns_metadata_without_rows() {
    let sim = start(small()).await;
    let mut c = connect(sim.addr()).await;
    let mut stream = c.simple_query("SET FMTONLY ON; SELECT c_Codigo, n_Precio1 FROM VAD10.dbo.MA_PRODUCTOS; SET FMTONLY OFF").await.unwrap();
    let columns = stream
        .columns()
        .await
        .unwrap()
        .map(|c| c.iter().map(|c| c.name().to_owned()).collect::<Vec<_>>());
    assert_eq!(
        columns,
        Some(vec!["c_Codigo".to_owned(), "n_Precio1".to_owned()])
    );
    let all = stream.into_results().await.unwrap();
    assert!(all.iter().all(Vec::is_empty));
    assert_eq!(
        rows(&mut c, "SELECT TOP 1 c_Codigo FROM VAD10.dbo.MA_PRODUCTOS")
            .await
            .len(),
        1
    );
}
