//! Helpers of the end-to-end tests in `tests/`.

use std::path::{Path, PathBuf};

/// The `zdsync` binary of the same build as the running test
/// (`target/<profile>/deps/<test>` → `target/<profile>/zdsync`).
pub fn zdsync_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join(format!("zdsync{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: build it first with `cargo build --workspace --all-targets`",
        bin.display()
    );
    bin
}
