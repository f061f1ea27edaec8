//! The Stellar source (SQL Server over TDS, tiberius). The tables, the
//! connection and what production extracts are described in the repository's
//! `docs/sources/stellar.md`.
//!
//! - `client`: connecting (own TCP connect timeout, keepalive, `TCP_NODELAY`, TLS per
//!   `encrypt`), the login and the classification of failures from typed causes;
//! - `extractor`: [`StellarSalesExtractor`] (a window's lines of `MA_TRANSACCION`) and
//!   [`StellarInventoryExtractor`] (a depot's `MA_DEPOPROD`), both in keyset chunks with
//!   retries that resume, and the queries ([`sales_sql`], [`sales_articles_sql`],
//!   [`inventory_sql`], [`depot_sql`]);
//! - `parse`: rows into [`SaleLine`](crate::model::SaleLine)s and
//!   [`InventoryItem`](crate::model::InventoryItem)s.

mod client;
mod extractor;
mod parse;

pub use client::{StellarCredentials, APPLICATION_NAME};
pub use extractor::{
    depot_sql, inventory_sql, sales_articles_sql, sales_sql, StellarInventoryExtractor,
    StellarSalesExtractor,
};

use crate::config::{Environment, StellarStore, StoreConfig};
use crate::error::EtlError;
use crate::model::DataKind;
use crate::pipeline::Extractor;
use crate::taxonomy::ErrorSource;

use super::ExtractRequest;

/// Builds the Stellar extractor of one store, reading the SQL login from the environment
/// variables the store's `user_env`/`password_env` name. Never connects; fails only when the
/// configuration cannot work (a variable that is not set, a database name that is not an
/// identifier, a sales request without a window).
pub fn extractor(
    store: &StoreConfig,
    stellar: &StellarStore,
    request: &ExtractRequest,
    environment: Environment,
) -> Result<Box<dyn Extractor>, EtlError> {
    let credentials = StellarCredentials::from_env(&stellar.user_env, &stellar.password_env)
        .map_err(|e| {
            EtlError::new(
                e.phase(),
                e.category(),
                ErrorSource::StellarDb,
                format!("store {}: {}", store.id, e.message()),
            )
            .retryable(false)
        })?;
    match request.kind {
        DataKind::Sales => {
            let window = request.sales_window(&store.id)?;
            Ok(Box::new(StellarSalesExtractor::new(
                store.id.clone(),
                stellar,
                environment,
                credentials,
                window,
                &request.batch,
            )?))
        }
        DataKind::Inventory => Ok(Box::new(StellarInventoryExtractor::new(
            store.id.clone(),
            stellar,
            environment,
            credentials,
            request.snapshot_at,
            &request.batch,
        )?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::stellar_cedi;
    use crate::config::{Config, EncryptByEnvironment, StellarEncryption, StoreSource};
    use crate::taxonomy::{ErrorCategory, Phase};

    fn doc() -> String {
        format!(
            "\n{}",
            stellar_cedi(
                "cedi_seco",
                "CEDI Seco",
                "depot = \"1413\"\nuser_env = \"FLUXION_UNIT_TEST_NO_SUCH_USER\"\n"
            )
        )
    }

    fn stellar(doc: &str) -> (Config, StellarStore) {
        let c = Config::from_toml_str(doc, "inline").unwrap();
        let StoreSource::Stellar(s) = c.stores[0].source.clone() else {
            panic!("stellar")
        };
        (c, s)
    }

    #[test]
    fn new_keys_have_production_defaults() {
        let (_, s) = stellar(&doc());
        assert_eq!(
            s.encrypt,
            EncryptByEnvironment::all(StellarEncryption::TrustServerCertificate)
        );
        assert_eq!(s.chunk_rows, 20_000);
        assert!(s.connection_per_chunk);
    }

    #[test]
    fn encrypt_is_one_value_or_one_per_environment() {
        let with = |extra: &str| {
            stellar(&doc().replace("depot = \"1413\"", &format!("depot = \"1413\"\n{extra}"))).1
        };
        let s = with("encrypt = \"off\"\nchunk_rows = 500\nconnection_per_chunk = false");
        assert_eq!(s.chunk_rows, 500);
        assert!(!s.connection_per_chunk);
        use StellarEncryption::{Off, TrustServerCertificate, VerifyCertificate};
        for (encrypt, local, production) in [
            ("\"off\"", Off, Off),
            (
                "{ local = \"off\", production = \"verify_certificate\" }",
                Off,
                VerifyCertificate,
            ),
            // A missing environment keeps the default.
            ("{ local = \"off\" }", Off, TrustServerCertificate),
        ] {
            let s = with(&format!("encrypt = {encrypt}"));
            assert_eq!(s.encrypt.for_env(Environment::Local), local, "{encrypt}");
            assert_eq!(
                s.encrypt.for_env(Environment::Production),
                production,
                "{encrypt}"
            );
        }
    }

    #[test]
    fn bad_new_keys_are_errors_that_say_what_is_wrong() {
        let with = |extra: &str| {
            let doc = doc().replace("depot = \"1413\"", &format!("depot = \"1413\"\n{extra}"));
            Config::from_toml_str(&doc, "fluxion.toml").unwrap_err()
        };
        // Fields of a store's source are read through serde's tagged enum, which loses the
        // value's position; the message still names the bad value and what is accepted.
        let e = with("encrypt = \"of\"").to_string();
        assert!(
            e.contains("`of`") && e.contains("verify_certificate"),
            "{e}"
        );
        let e = with("encrypt = { local = \"off\", prod = \"off\" }").to_string();
        assert!(e.contains("prod"), "{e}");
        let e = with("chunk_rows = 0");
        assert_eq!(e.key(), Some("stores[0].source.chunk_rows"), "{e}");
        assert!(e.to_string().starts_with("fluxion.toml:10:"), "{e}");
    }

    #[test]
    fn a_missing_credential_fails_the_store_naming_the_variable() {
        let (c, s) = stellar(&doc());
        let request = ExtractRequest {
            kind: DataKind::Inventory,
            window: None,
            snapshot_at: chrono::Utc::now(),
            batch: c.batch.clone(),
        };
        let Err(e) = extractor(&c.stores[0], &s, &request, Environment::Local) else {
            panic!("the variable is not set");
        };
        assert_eq!(e.category(), ErrorCategory::DbConnection);
        assert_eq!(e.phase(), Phase::Extract);
        assert!(!e.is_retryable());
        assert!(e.message().contains("cedi_seco"), "{}", e.message());
        assert!(
            e.message().contains("FLUXION_UNIT_TEST_NO_SUCH_USER"),
            "{}",
            e.message()
        );
    }
}
