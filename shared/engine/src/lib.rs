//! zdsync use cases.
