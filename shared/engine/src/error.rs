//! Engine errors: what went wrong, with enough context to act on it, and
//! whether it is the user's input (exit code 2) or a runtime failure (1).

use zdsync_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Bad input or configuration: the user must change something.
    #[error("{0}")]
    Usage(String),
    /// The named connection does not exist.
    #[error(
        "unknown connection {name:?}: run `zdsync connect {name} --subdomain ... --email ...` first, or `zdsync status` to list connections"
    )]
    UnknownConnection { name: String },
    /// Zendesk refused the connection for a reason the user must fix
    /// (credentials, role, permissions).
    #[error("{0}")]
    Refused(String),
    /// Another run holds the connection's lease.
    #[error(
        "connection {name:?} is being synced by {owner} (lease until {until}); try again later"
    )]
    Busy {
        name: String,
        owner: String,
        until: String,
    },
    #[error("{context}: {source}")]
    Zendesk {
        context: String,
        #[source]
        source: zdsync_zendesk::Error,
    },
    #[error("{context}: {source}")]
    Store {
        context: String,
        #[source]
        source: StoreError,
    },
    /// Stored data the engine cannot read.
    #[error("{0}")]
    Corrupt(String),
    /// Work that ran and failed (details were logged as it happened).
    #[error("{0}")]
    Failed(String),
}

impl EngineError {
    /// 2 for usage/configuration errors, 1 for runtime errors.
    pub fn exit_code(&self) -> i32 {
        match self {
            EngineError::Usage(_)
            | EngineError::UnknownConnection { .. }
            | EngineError::Refused(_) => 2,
            EngineError::Store {
                source: StoreError::Missing { .. },
                ..
            } => 2,
            _ => 1,
        }
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Adds context to store and Zendesk errors.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, StoreError> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| EngineError::Store {
            context: what(),
            source,
        })
    }
}

impl<T> Context<T> for std::result::Result<T, zdsync_zendesk::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| EngineError::Zendesk {
            context: what(),
            source,
        })
    }
}
