//! Rebuilds the crate when a migration is added or edited: `sqlx::migrate!` embeds the
//! `migrations/` folders at compile time, and Cargo cannot see a new file there on its own.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
