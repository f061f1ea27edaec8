//! The Stellar simulator queried by SQL Server clients that share no code with tiberius: FreeTDS's
//! `tsql` (SQL batches) and python-tds (RPC `sp_executesql` with parameters). If they pass, the
//! simulator speaks TDS, not just what our extractor expects.
//!
//! The clients must be installed (`scripts/install-test-deps.sh`); a missing client fails these
//! tests, in CI and locally alike, with a message saying how to install it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;

use chrono::NaiveDateTime;
use fluxion_etl_sim::stellar::{
    StellarSim, StellarSimConfig, REFERENCE_INVENTORY_SQL, REFERENCE_SALES_SQL,
};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

fn small() -> StellarSimConfig {
    StellarSimConfig {
        articles: 800,
        sales_lines_per_day: (600, 900),
        ..StellarSimConfig::default()
    }
}

/// Fails (never skips) when a client is missing.
async fn require(program: &str, args: &[&str], what: &str) {
    let ok = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .map(|s| s.success())
        .unwrap_or(false);
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(
        ok,
        "{what} is not installed{}: run scripts/install-test-deps.sh (it installs FreeTDS's tsql with apt-get \
         and python-tds with pip) and run the tests again",
        if ci { " on this CI runner" } else { "" }
    );
}

struct Tsql {
    stdout: String,
    stderr: String,
    success: bool,
}

async fn tsql(sim: &StellarSim, password: &str, script: &str) -> Tsql {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("freetds.conf");
    std::fs::write(&conf, "[global]\n\ttds version = 7.4\n\tencryption = off\n").unwrap();
    let mut child = Command::new("tsql")
        .args([
            "-H",
            &sim.addr().ip().to_string(),
            "-p",
            &sim.addr().port().to_string(),
        ])
        .args(["-U", "fluxion", "-P", password, "-o", "q"])
        .env("FREETDSCONF", &conf)
        .env("TDSVER", "7.4")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start tsql");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(script.as_bytes()).await.unwrap();
    stdin.write_all(b"\nexit\n").await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("tsql finished in time")
        .unwrap();
    Tsql {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        success: out.status.success(),
    }
}

/// Splits tsql's quiet output into result sets: a header line, then tab-separated rows.
fn result_sets(out: &str, headers: &[&str]) -> Vec<Vec<Vec<String>>> {
    let mut sets: Vec<Vec<Vec<String>>> = Vec::new();
    for line in out.lines() {
        let fields: Vec<String> = line.split('\t').map(str::to_owned).collect();
        if headers.contains(&line) {
            sets.push(Vec::new());
        } else if let Some(set) = sets.last_mut() {
            if !line.is_empty() {
                set.push(fields);
            }
        }
    }
    sets
}

#[tokio::test]
async fn stellar_freetds_tsql_queries_the_simulator() {
    require("tsql", &["-C"], "FreeTDS tsql").await;
    let sim = StellarSim::start(small(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let tables = sim.tables().clone();
    let inventory = REFERENCE_INVENTORY_SQL.replace("@P1", "'1413'");
    let script = format!(
        "SELECT c_Codigo, c_Descri, c_Departamento FROM VAD10.dbo.MA_PRODUCTOS ORDER BY c_Codigo\ngo\n\
         {inventory}\ngo\n\
         SELECT COUNT(*) AS lines FROM VAD20.dbo.MA_TRANSACCION WHERE c_Localidad = '1710' AND f_Fecha = '2024-03-15'\ngo\n\
         SELECT c_Codig FROM VAD10.dbo.MA_PRODUCTOS\ngo\n\
         SELECT DB_NAME() AS db\ngo\n"
    );
    let out = tsql(&sim, "fluxion", &script).await;
    assert!(out.success, "tsql failed:\n{}\n{}", out.stdout, out.stderr);
    let sets = result_sets(
        &out.stdout,
        &[
            "c_Codigo\tc_Descri\tc_Departamento",
            "deposito\tnombre_deposito\tcodigo\tcodigo_barra\tdescripcion\tcategoria\tgrupo\tsubgrupo\tmarca\tcuadrante\tcosto\tprecio\timpuesto\tpresentacion\tpeso\tvolumen\tunidades_por_bulto\texistencia",
            "lines",
            "db",
        ],
    );
    assert_eq!(
        sets.len(),
        4,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );

    // Every article, with its text intact (UTF-16 Ñ included).
    let mut products: Vec<_> = tables.products().iter().collect();
    products.sort_by(|a, b| a.code.cmp(&b.code));
    assert_eq!(sets[0].len(), products.len());
    for (row, p) in sets[0].iter().zip(&products) {
        assert_eq!(row[0], p.code);
        assert_eq!(row[1], p.description);
        assert_eq!(row[2], p.department);
    }
    assert!(
        sets[0].iter().any(|r| r[1].contains('Ñ')),
        "non-ASCII text survives"
    );

    // The reference inventory query, as a batch.
    let expected = tables.expected_inventory("1413");
    assert_eq!(sets[1].len(), expected.len());
    for (row, e) in sets[1].iter().zip(&expected) {
        assert_eq!(row[0], e.depot);
        assert_eq!(row[2], e.article);
        assert_eq!(row[3], e.barcode);
        assert_eq!(row[5], e.category);
        assert_eq!(row[11], e.price.to_string());
    }

    let lines = tables
        .sales_day(
            "1710",
            chrono::NaiveDate::from_ymd_opt(2024, 3, 15).unwrap(),
        )
        .lines
        .len();
    assert_eq!(sets[2], vec![vec![lines.to_string()]]);
    assert_eq!(sets[3], vec![vec!["VAD10".to_owned()]]);
    // The 207 reached tsql as a server message.
    assert!(
        out.stderr.contains("Msg 207") && out.stderr.contains("Invalid column name 'c_Codig'."),
        "{}",
        out.stderr
    );

    // A wrong password is refused with 18456.
    let bad = tsql(&sim, "wrong", "SELECT 1\ngo\n").await;
    assert!(!bad.success);
    assert!(
        bad.stderr.contains("Msg 18456") && bad.stderr.contains("Login failed for user 'fluxion'."),
        "{}",
        bad.stderr
    );
}

/// python-tds: parameterized queries (RPC), the reference queries, errors.
const PYTHON: &str = r#"
import json, sys, datetime, decimal
import pytds

host, port = sys.argv[1], int(sys.argv[2])
inventory_sql, sales_sql = sys.argv[3], sys.argv[4]

def plain(v):
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat(sep=' ') if isinstance(v, datetime.datetime) else v.isoformat()
    return v

def named(sql, n):
    for i in range(n, 0, -1):
        sql = sql.replace('@P%d' % i, '%%(p%d)s' % i)
    return sql

out = {}
with pytds.connect(server=host, port=port, user='fluxion', password='fluxion', database='VAD10',
                   autocommit=True, login_timeout=10, timeout=60) as conn:
    with conn.cursor() as cur:
        cur.execute(named(inventory_sql, 1), {'p1': '1710'})
        out['inventory'] = [[plain(v) for v in row] for row in cur.fetchall()]
        sales = []
        last = ('', 0)
        while True:
            cur.execute(named(sales_sql, 6), {
                'p1': '1801',
                'p2': datetime.datetime(2024, 3, 15, 12, 0, 0),
                'p3': datetime.datetime(2024, 3, 15, 18, 30, 0),
                'p4': last[0], 'p5': last[1], 'p6': 150})
            chunk = cur.fetchall()
            sales.extend([[plain(v) for v in row] for row in chunk])
            if len(chunk) < 150:
                break
            last = (chunk[-1][1], chunk[-1][2])
        out['sales'] = sales
        cur.execute("SELECT %s AS s, %s AS i, %s AS d, %s AS dt",
                    ('MAÑONGO', 2**40, decimal.Decimal('-0.125'), datetime.datetime(2024, 1, 2, 3, 4, 5)))
        out['echo'] = [plain(v) for v in cur.fetchone()]
        try:
            cur.execute("SELECT n_Precio FROM VAD10.dbo.MA_PRODUCTOS")
            out['err207'] = None
        except pytds.ProgrammingError as e:
            out['err207'] = [e.msg_no, str(e.text)]
try:
    pytds.connect(server=host, port=port, user='fluxion', password='nope', login_timeout=10)
    out['login'] = None
except pytds.Error as e:
    out['login'] = getattr(e, 'msg_no', None) or str(e)
print(json.dumps(out))
"#;

fn dec(v: &serde_json::Value) -> rust_decimal::Decimal {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a decimal: {v}"))
}

#[tokio::test]
async fn stellar_python_tds_queries_the_simulator_with_parameters() {
    require("python3", &["-c", "import pytds"], "python-tds").await;
    let sim = StellarSim::start(small(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let tables = sim.tables().clone();
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        Command::new("python3")
            .args(["-c", PYTHON])
            .arg(sim.addr().ip().to_string())
            .arg(sim.addr().port().to_string())
            .arg(REFERENCE_INVENTORY_SQL)
            .arg(REFERENCE_SALES_SQL)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("python-tds finished in time")
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python-tds failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();

    let inventory = v["inventory"].as_array().unwrap();
    let expected = tables.expected_inventory("1710");
    assert_eq!(inventory.len(), expected.len());
    for (row, e) in inventory.iter().zip(&expected) {
        assert_eq!(row[2], e.article.as_str());
        assert_eq!(row[3], e.barcode.as_str());
        assert_eq!(row[4], e.description.as_str());
        // python-tds builds decimals by division, which drops trailing zeros: compare numbers.
        assert_eq!(dec(&row[10]), e.cost);
        assert_eq!(row[17].as_f64(), Some(e.stock));
    }

    let sales = v["sales"].as_array().unwrap();
    let from = NaiveDateTime::parse_from_str("2024-03-15 12:00:00", "%Y-%m-%d %H:%M:%S").unwrap();
    let to = NaiveDateTime::parse_from_str("2024-03-15 18:30:00", "%Y-%m-%d %H:%M:%S").unwrap();
    let expected = tables.expected_sales("1801", from, to);
    assert!(expected.len() > 300, "{}", expected.len());
    assert_eq!(sales.len(), expected.len());
    for (row, e) in sales.iter().zip(&expected) {
        assert_eq!(row[1], e.receipt.as_str());
        assert_eq!(row[2], e.line);
        assert_eq!(
            row[4],
            e.datetime.format("%Y-%m-%d %H:%M:%S").to_string().as_str()
        );
        assert_eq!(row[6], e.article.as_str());
        assert_eq!(dec(&row[12]), e.quantity);
        assert_eq!(dec(&row[17]), e.total);
    }

    assert_eq!(
        v["echo"],
        serde_json::json!(["MAÑONGO", 1u64 << 40, "-0.125", "2024-01-02 03:04:05"])
    );
    assert_eq!(
        v["err207"],
        serde_json::json!([207, "Invalid column name 'n_Precio'."])
    );
    assert_eq!(v["login"], serde_json::json!(18456));
}
