use super::test_support::{periferico, stellar_cedi};
use super::*;
use crate::model::SourceSystem;

/// A valid document: every section, a KLK store and a Stellar CEDI (the tests below name
/// its lines).
fn good() -> String {
    format!(
        "\n[destination]\nurl = \"sqlite://fluxion.db\"\n\n[batch]\nbatch_size = 1000\nmax_workers = 2\n\n\
         [klk]\nbase_url = \"http://127.0.0.1:7002\"\n\n[schedule]\nexecution_hour = 5\n\n{}\n{}",
        periferico(),
        stellar_cedi("cedi_seco", "CEDI Seco", "port = 14330\ndepot = \"1413\"\n"),
    )
}

#[test]
fn parses_inline_document() {
    let c = Config::from_toml_str(&good(), "inline").unwrap();
    assert_eq!(c.stores.len(), 2);
    assert_eq!(c.batch.batch_size, 1000);
    assert_eq!(c.stores[1].kind, StoreKind::Cedi);
    assert_eq!(c.stores[1].system(), SourceSystem::Stellar);
    let StoreSource::Stellar(s) = &c.stores[1].source else {
        panic!("stellar")
    };
    assert_eq!(s.host.for_env(Environment::Production), "192.168.20.12");
    assert_eq!(s.host.for_env(Environment::Local), "127.0.0.1");
    assert_eq!(s.database, "VAD10");
    assert_eq!(s.password_env, "STELLAR_PASSWORD");
    assert_eq!(c.stores[0].warehouse(), "APP-TPF");
}

#[test]
fn empty_document_is_valid() {
    let c = Config::from_toml_str("", "inline").unwrap();
    assert!(c.stores.is_empty());
    assert_eq!(c.schedule.max_gaps_per_run, 5);
    assert_eq!(Config::empty(), c);
}

fn err(doc: &str) -> ConfigError {
    Config::from_toml_str(doc, "fluxion.toml").unwrap_err()
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let doc = good().replace("max_workers = 2", "max_workers = 2\nmax_wrokers = 3");
    let e = err(&doc);
    let msg = e.to_string();
    assert!(msg.contains("max_wrokers"), "{msg}");
    assert!(msg.starts_with("fluxion.toml:8:"), "{msg}");
    assert_eq!(e.key(), Some("max_wrokers"));
}

#[test]
fn wrong_type_names_the_key() {
    let doc = good().replace("batch_size = 1000", "batch_size = \"lots\"");
    let e = err(&doc);
    assert_eq!(e.key(), Some("batch_size"), "{e}");
    assert!(e.to_string().starts_with("fluxion.toml:6:"), "{e}");
}

#[test]
fn zero_retention_is_refused() {
    let e = err("[destination]\nurl = \"sqlite://x.db\"\nretention_days = 0\n");
    assert_eq!(e.key(), Some("destination.retention_days"), "{e}");
    assert!(e.to_string().starts_with("fluxion.toml:3:"), "{e}");
}

#[test]
fn invalid_values_name_key_and_line() {
    let cases = [
        ("batch_size = 1000", "batch_size = 0", "batch.batch_size", 6),
        (
            "execution_hour = 5",
            "execution_hour = 25",
            "schedule.execution_hour",
            13,
        ),
        ("port = 14330", "port = 0", "stores[1].source.port", 30),
        (
            "url = \"sqlite://fluxion.db\"",
            "url = \"mysql://x\"",
            "destination.url",
            3,
        ),
        (
            "base_url = \"http://127.0.0.1:7002\"",
            "base_url = \"127.0.0.1:7002\"",
            "klk.base_url",
            10,
        ),
    ];
    for (from, to, key, line) in cases {
        let e = err(&good().replace(from, to));
        assert_eq!(e.key(), Some(key), "{e}");
        match &e {
            ConfigError::Invalid { line: l, .. } => assert_eq!(*l, line, "{e}"),
            other => panic!("{other}"),
        }
    }
}

/// A store's unknown field or system is named in the message.
#[test]
fn unknown_names_are_named() {
    for (from, to, named) in [
        (
            "branch = \"SUC001\"",
            "branch = \"SUC001\"\nbranchh = \"x\"",
            "branchh",
        ),
        ("system = \"klk\"", "system = \"sap\"", "sap"),
    ] {
        let e = err(&good().replace(from, to));
        assert!(e.to_string().contains(named), "{e}");
    }
}

/// A missing key, a duplicate store, a secret that is not an environment variable's name and a
/// KLK store without `[klk]` name the key at fault (and say why, where the key alone does not).
#[test]
fn refused_documents_name_the_key() {
    for (from, to, key, says) in [
        ("warehouse = \"APP-TPF\"\n", "", "warehouse", None),
        (
            "id = \"cedi_seco\"",
            "id = \"tienda_01\"",
            "stores[1].id",
            Some("duplicate"),
        ),
        (
            "depot = \"1413\"",
            "depot = \"1413\"\npassword_env = \"hunter2\"",
            "stores[1].source.password_env",
            None,
        ),
        (
            "[klk]\nbase_url = \"http://127.0.0.1:7002\"",
            "",
            "klk",
            None,
        ),
    ] {
        let e = err(&good().replace(from, to));
        assert_eq!(e.key(), Some(key), "{e}");
        if let Some(says) = says {
            assert!(e.to_string().contains(says), "{e}");
        }
    }
}
