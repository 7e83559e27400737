//! `capi/include/mdmlink.h` is what cbindgen makes of `capi/src` today, it compiles
//! as C99 and C++, and its version macros match `Cargo.toml`.
//!
//! Set `MDMLINK_BLESS=1` to rewrite the committed header instead of failing
//! (that is what `scripts/gen-header.sh` does).

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn generate() -> String {
    let root = root();
    let mut config =
        cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml parses");
    let version = env!("CARGO_PKG_VERSION");
    // The SONAME's number (build.rs): the minor version for 0.x, 1000 * major after.
    let major: u32 = env!("CARGO_PKG_VERSION_MAJOR").parse().expect("major");
    let minor: u32 = env!("CARGO_PKG_VERSION_MINOR").parse().expect("minor");
    let abi = if major == 0 { minor } else { 1000 * major };
    config.after_includes = Some(format!(
        "\n#define MDMLINK_VERSION_MAJOR {}\n#define MDMLINK_VERSION_MINOR {}\n#define MDMLINK_VERSION_PATCH {}\n#define MDMLINK_VERSION \"{version}\"\n#define MDMLINK_ABI_VERSION {abi}",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
    ));
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/lib.rs"))
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("the header is UTF-8")
}

#[test]
fn committed_header_is_current() {
    let path = root().join("include/mdmlink.h");
    let fresh = generate();
    if std::env::var_os("MDMLINK_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &fresh).expect("write capi/include/mdmlink.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "capi/include/mdmlink.h is out of date with capi/src; run scripts/gen-header.sh and commit the result"
    );
}

#[test]
fn version_macros_match_cargo_toml() {
    let header = std::fs::read_to_string(root().join("include/mdmlink.h")).expect("header");
    let cargo = std::fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
    // Read the version from Cargo.toml itself, not from the macros under test.
    let version = cargo
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("Cargo.toml has a version line");
    let parts: Vec<&str> = version.split('.').collect();
    assert_eq!(parts.len(), 3, "version {version} is MAJOR.MINOR.PATCH");
    for (name, value) in [
        ("MAJOR", parts[0]),
        ("MINOR", parts[1]),
        ("PATCH", parts[2]),
    ] {
        let line = format!("#define MDMLINK_VERSION_{name} {value}\n");
        assert!(header.contains(&line), "header lacks `{}`", line.trim());
    }
    assert!(header.contains(&format!("#define MDMLINK_VERSION \"{version}\"\n")));
    let abi = if parts[0] == "0" {
        parts[1].to_owned()
    } else {
        format!("{}000", parts[0])
    };
    assert!(header.contains(&format!("#define MDMLINK_ABI_VERSION {abi}\n")));
    assert!(header.contains("DO NOT EDIT"));
}

fn compile(compiler: &str, args: &[&str], source: &Path) {
    let include = root().join("include");
    let out = Command::new(compiler)
        .args(args)
        .arg("-I")
        .arg(&include)
        .args(["-fsyntax-only"])
        .arg(source)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{compiler}` ({e}); install gcc and g++"));
    assert!(
        out.status.success(),
        "{compiler} {args:?} rejected include/mdmlink.h:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn probe(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    // Every declaration, including the test hook, and a use of the macros.
    std::fs::write(
        &path,
        "#define MDMLINK_FFI_TEST_HOOKS 1\n#include \"mdmlink.h\"\n#include \"mdmlink.h\"\n\
         static const char *v = MDMLINK_VERSION;\n\
         int probe(void) { mdmlink_bytes b = {0, 0}; (void)b; (void)v; \
         return (int)MDMLINK_STATUS_OK + MDMLINK_VERSION_MAJOR; }\n",
    )
    .expect("write probe");
    path
}

#[test]
fn header_compiles_as_c99() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = probe(dir.path(), "probe.c");
    compile(
        "gcc",
        &["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror"],
        &src,
    );
}

#[test]
fn header_compiles_as_cpp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = probe(dir.path(), "probe.cpp");
    let gxx = if Command::new("g++").arg("--version").output().is_ok() {
        "g++"
    } else {
        "c++"
    };
    compile(
        gxx,
        &["-std=c++11", "-Wall", "-Wextra", "-Wpedantic", "-Werror"],
        &src,
    );
}
