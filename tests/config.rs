//! The shipped example configuration stays valid.

use fluxion_etl::config::{Config, StoreKind};
use fluxion_etl::model::SourceSystem;

#[test]
fn the_example_configuration_is_valid_and_lists_the_fleet() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fluxion.example.toml");
    let config = Config::load(path.as_ref()).unwrap();
    let klk = config
        .stores
        .iter()
        .filter(|s| s.system() == SourceSystem::Klk)
        .count();
    let stellar = config
        .stores
        .iter()
        .filter(|s| s.system() == SourceSystem::Stellar)
        .count();
    assert_eq!((klk, stellar), (19, 3));
    assert!(config.store("tienda_14").is_none(), "there is no tienda_14");
    assert!(config
        .stores
        .iter()
        .filter(|s| s.kind == StoreKind::Cedi)
        .all(|s| s.system() == SourceSystem::Stellar));
}
