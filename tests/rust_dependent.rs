//! A Rust project that depends on `mdmlink` builds only Rust: no C library
//! (`libmdmlink*.a`, `libmdmlink*.so`) and no exported `mdmlink_*` symbol in
//! the library's rlib. The C API is the separate `mdmlink-capi` crate.
//!
//! The test writes a fresh crate into a temporary directory and builds it
//! with `cargo build --offline` into its own target directory under this
//! build's (`CARGO_TARGET_TMPDIR/fresh-dependent`): never the outer target
//! directory, whose lock the running `cargo test` holds. The first run
//! compiles mdmlink's dependencies once (about a minute on 2 cores); later
//! runs only recompile mdmlink.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read the target directory") {
            let entry = entry.expect("directory entry");
            let path = entry.path();
            if entry.file_type().expect("file type").is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn a_rust_dependent_builds_no_c_library_and_no_c_symbols() {
    let project = tempfile::tempdir().expect("temporary directory");
    let root = workspace_root();
    std::fs::write(
        project.path().join("Cargo.toml"),
        format!(
            "[package]\nname = \"fresh-dependent\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
             [dependencies]\nmdmlink = {{ path = {:?} }}\n\n\
             # Its own workspace, whatever directory it is in.\n[workspace]\n",
            root.display().to_string()
        ),
    )
    .expect("write Cargo.toml");
    std::fs::create_dir(project.path().join("src")).expect("src/");
    std::fs::write(
        project.path().join("src/main.rs"),
        "fn main() {\n    println!(\"{}\", mdmlink::VERSION);\n}\n",
    )
    .expect("write src/main.rs");
    // The same dependency versions as this checkout (all in the local
    // registry cache already, so --offline resolves).
    std::fs::copy(root.join("Cargo.lock"), project.path().join("Cargo.lock"))
        .expect("copy Cargo.lock");

    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fresh-dependent");
    // The dependencies stay built between runs, but mdmlink's own outputs
    // carry a hash of the checkout's path: a run from another checkout (the
    // fresh clone of CI) would leave two rlibs. Only this run's may be there.
    if let Ok(entries) = std::fs::read_dir(target.join("debug").join("deps")) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("libmdmlink-") || name.starts_with("mdmlink-") {
                std::fs::remove_file(entry.path()).expect("remove an earlier mdmlink output");
            }
        }
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(&cargo)
        .args(["build", "--offline", "--quiet"])
        .current_dir(project.path())
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cargo}: {e}"));
    assert!(
        out.status.success(),
        "the fresh dependent did not build:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let files = files_under(&target.join("debug"));
    let c_libraries: Vec<_> = files
        .iter()
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.starts_with("libmdmlink") && (name.ends_with(".a") || name.contains(".so"))
        })
        .collect();
    assert!(
        c_libraries.is_empty(),
        "a Rust dependent built C libraries: {c_libraries:?}"
    );

    // The library's rlib, with a hash in its name like any other dependency.
    let rlibs: Vec<_> = files
        .iter()
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.starts_with("libmdmlink-") && name.ends_with(".rlib")
        })
        .collect();
    assert_eq!(
        rlibs.len(),
        1,
        "expected one libmdmlink-<hash>.rlib, found {rlibs:?}"
    );
    let nm = Command::new("nm")
        .args(["--defined-only", "--format=posix"])
        .arg(rlibs[0])
        .output()
        .unwrap_or_else(|e| panic!("cannot run nm ({e}); install binutils"));
    let symbols = String::from_utf8_lossy(&nm.stdout);
    // The symbol table was read: mdmlink's own (mangled) functions are there.
    assert!(
        symbols.lines().any(|l| l.contains("7mdmlink")),
        "nm listed none of mdmlink's symbols; stderr:\n{}",
        String::from_utf8_lossy(&nm.stderr)
    );
    let exported: Vec<&str> = symbols
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| name.starts_with("mdmlink_"))
        .collect();
    assert!(
        exported.is_empty(),
        "the rlib defines C symbols: {exported:?}"
    );
}
