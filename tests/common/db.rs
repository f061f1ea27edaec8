//! A destination under test, with the few backend-specific queries the contract suite needs.
//! Every contract test runs against each backend listed in `tests/contract.rs`.

use fluxion_etl::loaders::Destination;

/// The URL of a fresh, empty (not migrated) database on the shared test PostgreSQL server (see
/// `fluxion_etl_sim::postgres`).
pub async fn fresh_postgres_url() -> String {
    fluxion_etl_sim::postgres::TestPostgres::shared()
        .await
        .expect("a test PostgreSQL server")
        .create_database()
        .await
        .expect("a fresh test database")
}

/// The URL of a fresh, migrated database on the shared test PostgreSQL server.
pub async fn migrated_postgres_url() -> String {
    let url = fresh_postgres_url().await;
    let destination = Destination::connect(&url).await.unwrap();
    destination.migrate().await.unwrap();
    destination.close().await;
    url
}

pub struct TestDb {
    pub destination: Destination,
    // Keeps the SQLite file's directory alive for the test's duration.
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A fresh, migrated PostgreSQL database on the test server (see
    /// `fluxion_etl_sim::postgres`).
    pub async fn postgres() -> TestDb {
        let destination = Destination::connect(&fresh_postgres_url().await)
            .await
            .unwrap();
        destination.migrate().await.unwrap();
        TestDb {
            destination,
            _dir: None,
        }
    }

    /// A fresh, migrated SQLite file.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("contract.db").display());
        let destination = Destination::connect(&url).await.unwrap();
        destination.migrate().await.unwrap();
        TestDb {
            destination,
            _dir: Some(dir),
        }
    }

    async fn strings(&self, sql: &str) -> Vec<String> {
        match &self.destination {
            Destination::Sqlite(d) => sqlx::query_scalar::<_, String>(sql)
                .fetch_all(d.pool())
                .await
                .unwrap(),
            Destination::Postgres(d) => sqlx::query_scalar::<_, String>(sql)
                .fetch_all(d.pool())
                .await
                .unwrap(),
            other => panic!("no test queries for {other:?}"),
        }
    }

    /// Runs `sql` (one or more statements, no results) on the test database.
    pub async fn execute(&self, sql: &str) {
        match &self.destination {
            Destination::Sqlite(d) => {
                sqlx::raw_sql(sql).execute(d.pool()).await.unwrap();
            }
            Destination::Postgres(d) => {
                sqlx::raw_sql(sql).execute(d.pool()).await.unwrap();
            }
            other => panic!("no test queries for {other:?}"),
        }
    }

    /// Every sales line as `store|invoice|line|quantity`, sorted.
    pub async fn sales(&self) -> Vec<String> {
        let rows = self
            .strings(
                "SELECT store_id || '|' || invoice_number || '|' || CAST(line_number AS TEXT) || '|' || \
                 COALESCE(CAST(quantity AS TEXT), '') FROM sales_lines",
            )
            .await;
        let mut rows: Vec<String> = rows.into_iter().map(normalize_decimal_tail).collect();
        rows.sort();
        rows
    }

    /// Sales lines of one store.
    pub async fn sales_of(&self, store: &str) -> Vec<String> {
        self.sales()
            .await
            .into_iter()
            .filter(|r| r.starts_with(&format!("{store}|")))
            .collect()
    }

    /// Current inventory as `store|warehouse|code|stock`, sorted.
    pub async fn inventory(&self) -> Vec<String> {
        let rows = self
            .strings(
                "SELECT store_id || '|' || warehouse_code || '|' || product_code || '|' || CAST(stock AS TEXT) \
                 FROM inventory_current",
            )
            .await;
        let mut rows: Vec<String> = rows.into_iter().map(normalize_decimal_tail).collect();
        rows.sort();
        rows
    }

    /// Rows in `inventory_history`.
    pub async fn inventory_history_len(&self) -> usize {
        self.strings("SELECT CAST(COUNT(*) AS TEXT) FROM inventory_history")
            .await
            .first()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// Makes any insert of a sales line with invoice `POISON` fail inside the merge, after
    /// the updates of the same transaction have run.
    pub async fn install_poison(&self) {
        match &self.destination {
            Destination::Sqlite(_) => {
                self.execute(
                    "CREATE TRIGGER poison BEFORE INSERT ON sales_lines WHEN NEW.invoice_number = 'POISON' \
                     BEGIN SELECT RAISE(ABORT, 'poisoned line'); END;",
                )
                .await
            }
            // 23514 check_violation: a constraint violation, as SQLite's RAISE(ABORT) is.
            Destination::Postgres(_) => {
                self.execute(
                    "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                     IF NEW.invoice_number = 'POISON' THEN \
                     RAISE EXCEPTION 'poisoned line' USING ERRCODE = 'check_violation'; END IF; \
                     RETURN NEW; END $$; \
                     CREATE TRIGGER poison BEFORE INSERT ON sales_lines FOR EACH ROW EXECUTE FUNCTION poison();",
                )
                .await
            }
            other => panic!("no poison for {other:?}"),
        }
    }
}

/// `...|1.000` and `...|1` are the same amount; backends differ in how they print it.
fn normalize_decimal_tail(row: String) -> String {
    match row.rsplit_once('|') {
        Some((head, tail)) => match tail.parse::<rust_decimal::Decimal>() {
            Ok(d) => format!("{head}|{}", d.normalize()),
            Err(_) => row,
        },
        None => row,
    }
}
