//! Helpers shared by the C API's integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The workspace root (the library crate), which holds the test fixtures.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Path of a file in the Apple fixture folder,
/// `tests/fixtures/apple-token-1/` at the workspace root.
pub fn apple_fixture_path(name: &str) -> PathBuf {
    workspace_root()
        .join("tests/fixtures/apple-token-1")
        .join(name)
}

/// The expected JSON of the Apple token.
pub fn apple_expected_json() -> String {
    let path = apple_fixture_path("expected.json");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .trim()
        .to_owned()
}
