//! Embedded adapter of the storage port: one SQLite file in the data dir,
//! and a secret store of 0600 files beside it.

use std::path::Path;

use zdsync_store::Result;

/// The store in one local SQLite file.
pub struct EmbeddedStore {
    // implementation detail
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store file at `path`.
    pub fn open(path: &Path) -> Result<EmbeddedStore> {
        todo!("{}", path.display())
    }
}

/// Secrets as files with 0600 permissions in a 0700 directory.
pub struct FileSecretStore {
    // implementation detail
}

impl FileSecretStore {
    pub fn new(dir: &Path) -> Result<FileSecretStore> {
        todo!("{}", dir.display())
    }
}

