//! Run with: cargo run --example stellar_inventory
//!
//! A distribution centre's inventory read as a stream from Stellar (SQL Server over TDS; here
//! the Stellar simulator, served in-process on loopback): batches arrive as the extractor pages
//! through the depot, and the largest stocks are printed as a table. Nothing is loaded: an
//! extractor is usable on its own.

use chrono::Utc;
use fluxion_etl::config::{
    BatchConfig, EncryptByEnvironment, Environment, HostByEnvironment, StellarEncryption,
    StellarStore,
};
use fluxion_etl::prelude::*;
use fluxion_etl::sources::stellar::{StellarCredentials, StellarInventoryExtractor};
use fluxion_etl_sim::stellar::{StellarSim, StellarSimConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sim = StellarSimConfig {
        articles: 800,
        ..StellarSimConfig::default()
    };
    let stellar = StellarSim::start(sim, "127.0.0.1:0".parse()?).await?;

    // CEDI SECO, depot 1413 of database VAD10, as a `[[stores]]` entry would configure it.
    let cedi = StellarStore {
        host: HostByEnvironment {
            local: stellar.addr().ip().to_string(),
            production: None,
        },
        port: stellar.addr().port(),
        database: "VAD10".into(),
        sales_database: "VAD20".into(),
        depot: "1413".into(),
        user_env: "STELLAR_USER".into(),
        password_env: "STELLAR_PASSWORD".into(),
        encrypt: EncryptByEnvironment::all(StellarEncryption::Off),
        chunk_rows: 250,
        connection_per_chunk: false,
    };
    let batch = BatchConfig {
        batch_size: 250,
        ..BatchConfig::default()
    };
    let login = StellarCredentials::new("fluxion", "fluxion");
    let mut extractor = StellarInventoryExtractor::new(
        StoreId::new("cedi_seco"),
        &cedi,
        Environment::Local,
        login,
        Utc::now(),
        &batch,
    )?;

    let mut items = Vec::new();
    while let Some(batch) = extractor.next_batch().await? {
        if let Batch::Inventory(chunk) = batch {
            println!("batch of {} items", chunk.len());
            items.extend(chunk);
        }
    }
    let stats = extractor.stats();
    println!("{} items in {} queries", items.len(), stats.requests);

    items.sort_by_key(|item| std::cmp::Reverse(item.stock));
    println!(
        "{:<10} {:<40} {:>10} {:>10}",
        "code", "description", "stock", "cost"
    );
    for item in items.iter().take(10) {
        let description = item.description.as_deref().unwrap_or("");
        let cost = item
            .cost
            .map(|c| c.round_dp(2).to_string())
            .unwrap_or_default();
        println!(
            "{:<10} {:<40.40} {:>10} {:>10}",
            item.product_code,
            description,
            item.stock.round_dp(2),
            cost
        );
    }
    Ok(())
}
