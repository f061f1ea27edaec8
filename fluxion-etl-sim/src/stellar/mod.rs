//! The Stellar simulator: a TDS 7.4 server (plain TCP, no TLS) that serves the Stellar back office the
//! distribution centres run — VAD10 (articles, codes, departments, groups, subgroups, depots, stock)
//! and VAD20 (sales lines and receipts) — to any SQL Server client: tiberius, FreeTDS `tsql`,
//! python-tds. The repository's `docs/sources/stellar.md` describes the tables and
//! `docs/sources/tds.md` the protocol facts.
//!
//! - **Protocol**: PRELOGIN (answers ENCRYPT_NOT_SUP), LOGIN7 with a user/password check (18456 on
//!   failure), LOGINACK and the usual ENVCHANGEs, SQL batches, RPC `sp_executesql` with typed
//!   parameters, ATTENTION (DONE with the attention bit), responses split at the negotiated packet
//!   size with tokens straddling packets, ERROR tokens with SQL Server's numbers.
//! - **SQL**: parsed as T-SQL with `sqlparser` (MS SQL dialect); unknown tables (208), columns (207),
//!   ambiguous names (209), unbound qualifiers (4104), undeclared variables (137), conversions (245,
//!   8114), overflow (8115), division by zero (8134) and syntax errors (102, or 156 near a reserved
//!   keyword) fail as on SQL Server. Names are case-insensitive, one-, two- or three-part
//!   (`VAD10.dbo.MA_PRODUCTOS`), with aliases. Evaluated: SELECT with column lists, aliases (also
//!   `alias = expr`) and `*`/`T.*`; INNER, LEFT and CROSS JOIN (equalities become hash joins); WHERE
//!   and HAVING with comparisons, AND/OR/NOT, IN, BETWEEN, LIKE, IS \[NOT\] NULL; CASE; CAST/CONVERT
//!   (common date styles); DATETIME arithmetic as SQL Server defines it; ISNULL, COALESCE, NULLIF,
//!   UPPER/LOWER/LTRIM/RTRIM/TRIM/LEN/SUBSTRING/LEFT/RIGHT/CONCAT/REPLACE, ABS/ROUND/FLOOR/CEILING,
//!   YEAR/MONTH/DAY/DATEPART/DATEADD/DATEDIFF, GETDATE and friends, `@@VERSION`, `DB_NAME()`;
//!   GROUP BY with COUNT/COUNT_BIG/SUM/MIN/MAX/AVG (DISTINCT too); DISTINCT; ORDER BY names, aliases
//!   and positions; TOP (n | (@P)); OFFSET … FETCH with parameters; keyset predicates. `SET` (NOCOUNT
//!   and FMTONLY are honoured) and `USE` are answered as SQL Server does, any other statement with a
//!   plain DONE. Subqueries, CTEs, UNION, window functions and RIGHT/FULL joins are refused with error
//!   50000 saying so — never answered wrongly. The two queries production needs are
//!   [`REFERENCE_INVENTORY_SQL`] and [`REFERENCE_SALES_SQL`].
//! - **Data**: deterministic per seed, sales generated lazily per (depot, date) — see [`SimTables`].
//! - **Faults**: [`StellarFault`], from the configuration or at runtime with [`StellarSim::set_faults`].
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use fluxion_etl_sim::stellar::{StellarFault, StellarSim, StellarSimConfig};
//!
//! let sim = StellarSim::start(StellarSimConfig::default(), "127.0.0.1:0".parse().unwrap()).await?;
//! // CEDI Frío's next sales query is chosen as deadlock victim after 100 rows, once.
//! sim.set_faults(vec![StellarFault::Deadlock { depot: Some("1710".into()), after_rows: 100, times: Some(1) }]);
//! let expected = sim.tables().expected_inventory("1413");
//! # let _ = expected;
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod config;
mod data;
mod faults;
pub(crate) mod protocol;
mod server;
pub(crate) mod sql;

use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;

pub use self::config::{
    default_depots, Assortment, ConfigError, SimDepot, StellarFault, StellarSimConfig,
};
pub use self::data::{
    Code, Department, ExpectedInventoryRow, ExpectedSalesRow, Group, Product, Receipt, SalesDay,
    SalesLine, SimTables, StockRow, Subgroup,
};
pub use self::server::{run_from_cli, StellarSim};

/// The production inventory extract of one depot, as a parameterized query.
///
/// Parameter: `@P1` the depot code (`c_coddeposito`, NVARCHAR), e.g. `"1413"`.
///
/// Keeps what production keeps: active articles (`n_Activo = 1`), sold by unit (`n_TipoPeso = 0`),
/// whose interchange code is a barcode (`c_Descripcion = 'BARRA'`, `nu_Intercambio = 1`), outside
/// PROCURA (`000017`); department 'CB' is shown as 'CANASTA BASICA'. Groups and subgroups are LEFT
/// JOINed (a few articles point at a subgroup that does not exist); a subgroup is identified by its code
/// *and* its group. One row per article, ordered by article code; it equals
/// [`SimTables::expected_inventory`] on the simulator.
pub const REFERENCE_INVENTORY_SQL: &str = "\
SELECT
    S.c_coddeposito   AS deposito,
    DP.c_descripcion  AS nombre_deposito,
    P.c_Codigo        AS codigo,
    C.c_Codigo        AS codigo_barra,
    P.c_Descri        AS descripcion,
    CASE WHEN D.C_DESCRIPCIO = 'CB' THEN 'CANASTA BASICA' ELSE D.C_DESCRIPCIO END AS categoria,
    G.C_DESCRIPCIO    AS grupo,
    SG.c_DESCRIPCIO   AS subgrupo,
    P.c_Marca         AS marca,
    P.Text2           AS cuadrante,
    P.n_CostoAct      AS costo,
    P.n_Precio1       AS precio,
    P.n_Impuesto1     AS impuesto,
    P.c_Presenta      AS presentacion,
    P.n_Peso          AS peso,
    P.n_Volumen       AS volumen,
    P.n_CantiBul      AS unidades_por_bulto,
    S.n_cantidad      AS existencia
FROM VAD10.dbo.MA_DEPOPROD S
INNER JOIN VAD10.dbo.MA_PRODUCTOS P ON P.c_Codigo = S.c_codarticulo
INNER JOIN VAD10.dbo.MA_CODIGOS C
        ON C.c_CodNasa = P.c_Codigo AND C.c_Descripcion = 'BARRA' AND C.nu_Intercambio = 1
INNER JOIN VAD10.dbo.MA_DEPOSITO DP ON DP.c_coddeposito = S.c_coddeposito
LEFT JOIN VAD10.dbo.MA_DEPARTAMENTOS D ON D.C_CODIGO = P.c_Departamento
LEFT JOIN VAD10.dbo.MA_GRUPOS G ON G.c_CODIGO = P.c_Grupo
LEFT JOIN VAD10.dbo.MA_SUBGRUPOS SG ON SG.c_CODIGO = P.c_Subgrupo AND SG.c_GRUPO = P.c_Grupo
WHERE S.c_coddeposito = @P1
  AND P.n_Activo = 1
  AND P.n_TipoPeso = 0
  AND P.c_Departamento <> '000017'
ORDER BY P.c_Codigo";

/// The production sales extract of one depot and time window, one keyset chunk at a time.
///
/// Parameters:
/// - `@P1` the depot's locality (`c_Localidad`, NVARCHAR; the depot code for the default depots);
/// - `@P2`, `@P3` the window `[from, to)` in store-local time (DATETIME2, e.g. chrono `NaiveDateTime`);
/// - `@P4`, `@P5` the key of the last line of the previous chunk: receipt number (NVARCHAR, `''` for
///   the first chunk) and line number (INT, `0` for the first chunk);
/// - `@P6` the chunk size (INT, e.g. 20,000).
///
/// Repeat with the last row's (`numero`, `linea`) until a chunk comes back shorter than `@P6`.
/// Date and time are combined as `CAST(CAST(f_Fecha AS DATE) AS DATETIME) + CAST(CAST(h_Hora AS TIME)
/// AS DATETIME)`: casting each part first makes the sum right whether `h_Hora` carries 1900-01-01 or
/// VB6's 1899-12-30 (adding the raw DATETIME values would shift the latter by two days). The sargable
/// `f_Fecha` range lets the server (and the simulator) read only the days of the window. Lines are
/// joined through the scanned code (`Codigo` → `MA_CODIGOS.c_Codigo` → `c_CodNasa`) to the article;
/// the rows equal [`SimTables::expected_sales`].
pub const REFERENCE_SALES_SQL: &str = "\
SELECT TOP (@P6)
    T.c_Localidad     AS localidad,
    T.c_Numero        AS numero,
    T.n_Linea         AS linea,
    T.c_Caja          AS caja,
    CAST(CAST(T.f_Fecha AS DATE) AS DATETIME) + CAST(CAST(T.h_Hora AS TIME) AS DATETIME) AS fecha_hora,
    T.Codigo          AS codigo_escaneado,
    P.c_Codigo        AS codigo,
    P.c_Descri        AS descripcion,
    CASE WHEN D.C_DESCRIPCIO = 'CB' THEN 'CANASTA BASICA' ELSE D.C_DESCRIPCIO END AS categoria,
    G.C_DESCRIPCIO    AS grupo,
    SG.c_DESCRIPCIO   AS subgrupo,
    P.c_Marca         AS marca,
    T.Cantidad        AS cantidad,
    T.Precio          AS precio,
    T.Subtotal        AS subtotal,
    T.Descuento       AS descuento,
    T.Impuesto        AS impuesto,
    T.Total           AS total,
    T.n_Costo         AS costo,
    T.c_Concepto      AS concepto,
    T.ID              AS id
FROM VAD20.dbo.MA_TRANSACCION T
INNER JOIN VAD10.dbo.MA_CODIGOS C ON C.c_Codigo = T.Codigo
INNER JOIN VAD10.dbo.MA_PRODUCTOS P ON P.c_Codigo = C.c_CodNasa
LEFT JOIN VAD10.dbo.MA_DEPARTAMENTOS D ON D.C_CODIGO = P.c_Departamento
LEFT JOIN VAD10.dbo.MA_GRUPOS G ON G.c_CODIGO = P.c_Grupo
LEFT JOIN VAD10.dbo.MA_SUBGRUPOS SG ON SG.c_CODIGO = P.c_Subgrupo AND SG.c_GRUPO = P.c_Grupo
WHERE T.c_Localidad = @P1
  AND T.f_Fecha >= CAST(@P2 AS DATE)
  AND T.f_Fecha < DATEADD(DAY, 1, CAST(@P3 AS DATE))
  AND CAST(CAST(T.f_Fecha AS DATE) AS DATETIME) + CAST(CAST(T.h_Hora AS TIME) AS DATETIME) >= @P2
  AND CAST(CAST(T.f_Fecha AS DATE) AS DATETIME) + CAST(CAST(T.h_Hora AS TIME) AS DATETIME) < @P3
  AND (T.c_Numero > @P4 OR (T.c_Numero = @P4 AND T.n_Linea > @P5))
ORDER BY T.c_Numero, T.n_Linea";

/// The data a configuration serves (the same as a running simulator's [`StellarSim::tables`]); for
/// expected values in tests that do not start a simulator.
pub fn tables(config: &StellarSimConfig) -> Arc<SimTables> {
    Arc::new(SimTables::new(config))
}

/// A parameter for [`encode_result`], bound as `@P1`, `@P2`, … with the type tiberius would send.
#[derive(Debug, Clone, PartialEq)]
pub enum SimParam {
    /// NVARCHAR(4000).
    Str(String),
    /// INT.
    Int(i32),
    /// BIGINT.
    BigInt(i64),
    /// DATE.
    Date(NaiveDate),
    /// DATETIME2(7).
    DateTime(NaiveDateTime),
    /// NUMERIC(38, scale).
    Decimal(Decimal),
}

/// What [`encode_result`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeStats {
    /// ROW tokens.
    pub rows: u64,
    /// Bytes of TDS packets (headers included).
    pub bytes: u64,
    /// Packets.
    pub packets: u64,
}

/// Runs a query against the simulated tables and encodes its full response into TDS packets in
/// memory, exactly as a connection would send it (COLMETADATA, ROWs, DONE; 4096-byte packets), but
/// without a socket. For measuring the simulator's raw encode rate beside a client's decode rate.
pub fn encode_result(
    tables: &Arc<SimTables>,
    sql_text: &str,
    params: &[SimParam],
) -> Result<EncodeStats, String> {
    use self::sql::value::{SqlType, Value};
    let mut declared = Vec::new();
    let mut values = Vec::new();
    for (i, p) in params.iter().enumerate() {
        let (ty, v) = match p {
            SimParam::Str(s) => (SqlType::NVarChar(Some(4000)), Value::Str(s.clone().into())),
            SimParam::Int(n) => (SqlType::Int, Value::Int(i64::from(*n))),
            SimParam::BigInt(n) => (SqlType::BigInt, Value::Int(*n)),
            SimParam::Date(d) => (SqlType::Date, Value::Date(*d)),
            SimParam::DateTime(d) => (SqlType::DateTime2(7), Value::DateTime(*d)),
            SimParam::Decimal(d) => (SqlType::decimal(38, d.scale() as u8), Value::Decimal(*d)),
        };
        declared.push(self::sql::plan::DeclaredParam {
            name: format!("@P{}", i + 1),
            ty,
        });
        values.push(v);
    }
    let statements = self::sql::parse_batch(sql_text).map_err(|e| e.to_string())?;
    let session = self::sql::Session {
        database: "VAD10".to_owned(),
        login_database: "VAD10".to_owned(),
        user: "fluxion".to_owned(),
        host: String::new(),
        app: String::new(),
        spid: 51,
        server_name: "STELLAR-SIM".to_owned(),
        nocount: false,
        fmtonly: false,
    };
    let mut writer = self::protocol::framing::PacketWriter::new(4096, 51);
    let mut stats = EncodeStats {
        rows: 0,
        bytes: 0,
        packets: 0,
    };
    let count = |bytes: usize, ps: usize, stats: &mut EncodeStats| {
        stats.bytes += bytes as u64;
        stats.packets += bytes.div_ceil(ps) as u64;
    };
    for stmt in statements {
        let self::sql::ParsedStmt::Query(q) = stmt else {
            continue;
        };
        let mut cursor = self::sql::prepare_query(&q, &session, &declared, values.clone(), tables)
            .map_err(|errors| {
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            })?;
        cursor.put_colmetadata(writer.buf());
        writer.settle();
        loop {
            let fill = cursor
                .fill(&mut writer, u64::MAX, 64 * 1024)
                .map_err(|e| e.to_string())?;
            count(writer.complete_len(), 4096, &mut stats);
            writer.consume_complete();
            if fill == self::sql::exec::Fill::Done {
                break;
            }
        }
        stats.rows += cursor.rows_sent;
        self::protocol::tokens::put_done(
            writer.buf(),
            self::protocol::tokens::DONE,
            self::protocol::tokens::DONE_COUNT,
            self::protocol::tokens::CMD_SELECT,
            cursor.rows_sent,
        );
        writer.settle();
    }
    let tail = writer.finish().len();
    count(tail, 4096, &mut stats);
    Ok(stats)
}
