//! End-to-end tests of the `zdsync` command live in `tests/`; this crate has
//! no code of its own.
