//! Rebuilds the collector when a migration file is added or changed: sqlx embeds `migrations/` at compile time,
//! and cargo would not otherwise notice a new file there.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
