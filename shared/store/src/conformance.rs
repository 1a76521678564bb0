//! The conformance suite every store adapter runs (embedded, DynamoDB on moto).
//!
//! Call [`run_all`] from an adapter's tests with a fresh, empty store. Each
//! check panics with a message naming what the adapter got wrong.

use crate::{SecretStore, Store};

/// Runs every check against an empty store.
pub async fn run_all(store: &dyn Store) {
    let _ = store;
    todo!()
}

/// Runs the secret-store checks.
pub async fn run_secrets(secrets: &dyn SecretStore) {
    let _ = secrets;
    todo!()
}
