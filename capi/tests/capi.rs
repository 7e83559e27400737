//! Builds the C tests in `capi/tests/c/` against `capi/include/mdmlink.h`
//! and the library cargo just built, and runs them (static and shared linking).
//!
//! The C compiler gets `-std=c11 -Wall -Wextra -Wpedantic -Werror`. Set
//! `MDMLINK_C_TEST_WRAPPER` to run the programs under a tool, e.g.
//! `valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite`
//! (what `scripts/ci/20-capi.sh` does).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::apple_fixture_path;

/// This crate's directory (`capi/`): `include/` and `tests/c/`.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The static library cargo builds (installed as `libmdmlink.a`).
const STATIC_LIB: &str = "libmdmlink_capi.a";
/// The shared library cargo builds (installed as `libmdmlink.so`, with its
/// SONAME beside it).
const SHARED_LIB: &str = "libmdmlink_capi.so";

/// The directory holding [`STATIC_LIB`] and [`SHARED_LIB`] built for this
/// test run (with this run's features): `target/<profile>/deps`, next to the
/// test executable.
fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe
        .parent()
        .expect("test binary has a directory")
        .to_path_buf();
    for dir in [
        deps.clone(),
        deps.parent().map(Path::to_path_buf).unwrap_or_default(),
    ] {
        if dir.join(STATIC_LIB).exists() && dir.join(SHARED_LIB).exists() {
            return dir;
        }
    }
    panic!(
        "{STATIC_LIB} / {SHARED_LIB} not found next to {}; capi/Cargo.toml's [lib] crate-type must list staticlib and cdylib",
        exe.display()
    );
}

fn out_dir(name: &str) -> PathBuf {
    let dir = library_dir()
        .parent()
        .expect("target dir")
        .join("ctest")
        .join(name);
    std::fs::create_dir_all(&dir).expect("create the C test directory");
    dir
}

fn cc(args: &[&str], extra: &[PathBuf]) {
    let mut cmd = Command::new(std::env::var("CC").unwrap_or_else(|_| "gcc".into()));
    cmd.args([
        "-std=c11",
        "-Wall",
        "-Wextra",
        "-Wpedantic",
        "-Werror",
        "-g",
        "-pthread",
    ]);
    if cfg!(any(feature = "ffi-test-hooks", debug_assertions)) {
        cmd.arg("-DMDMLINK_FFI_TEST_HOOKS");
    }
    cmd.arg("-I").arg(root().join("include"));
    cmd.arg(root().join("tests/c/test_capi.c"));
    cmd.args(extra).args(args);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler ({e}); install gcc"));
    assert!(
        out.status.success(),
        "compiling capi/tests/c/test_capi.c failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Apple token's expiry, read from expected.json (not from mdmlink).
fn expected_expiry_unix() -> i64 {
    let json: serde_json::Value =
        serde_json::from_str(&common::apple_expected_json()).expect("expected.json");
    let text = json["access_token_expiry"].as_str().expect("expiry string");
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .expect("RFC 3339 expiry")
        .unix_timestamp()
}

/// The simulator the C test's `test_dep` talks to: token CK_c/CS_c/AT_c/AS_c,
/// 2,500 devices from seed 3.
#[cfg(feature = "http")]
fn simulator() -> Option<mdmlink::session::simulator::Simulator> {
    use mdmlink::session::simulator::{SimulatedAccount, Simulator};
    let expiry = time::OffsetDateTime::from_unix_timestamp(4_102_444_800).expect("2100-01-01");
    let token = mdmlink::ServerToken::new("CK_c", "CS_c", "AT_c", "AS_c", expiry).expect("token");
    Some(
        Simulator::start(vec![
            SimulatedAccount::new(token, "C Test Org").with_devices(2_500, 3),
        ])
        .expect("start the simulator"),
    )
}

#[cfg(not(feature = "http"))]
fn simulator() -> Option<()> {
    None
}

/// `program` run under `MDMLINK_C_TEST_WRAPPER` (e.g. valgrind) when set.
fn wrapped(program: &Path) -> Command {
    let wrapper = std::env::var("MDMLINK_C_TEST_WRAPPER").unwrap_or_default();
    let mut words = wrapper.split_whitespace();
    match words.next() {
        Some(tool) => {
            let mut c = Command::new(tool);
            c.args(words).arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// Compiles `capi/tests/c/test_NAME.c` against the static library:
/// (its output directory, the program).
#[cfg(feature = "sqlite")]
fn compile_static_test(name: &str) -> (PathBuf, PathBuf) {
    let dir = out_dir(name);
    let program = dir.join(format!("test_{name}"));
    let out = Command::new(std::env::var("CC").unwrap_or_else(|_| "gcc".into()))
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Wpedantic",
            "-Werror",
            "-g",
            "-pthread",
        ])
        .arg("-I")
        .arg(root().join("include"))
        .arg(root().join(format!("tests/c/test_{name}.c")))
        .arg(library_dir().join(STATIC_LIB))
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&program)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler ({e}); install gcc"));
    assert!(
        out.status.success(),
        "compiling capi/tests/c/test_{name}.c failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir, program)
}

fn run(program: &Path) {
    let fixtures = apple_fixture_path("");
    // Without `http` nothing is pushed after these.
    #[cfg_attr(not(feature = "http"), allow(unused_mut))]
    let mut args = vec![
        fixtures.to_str().expect("UTF-8 path").to_owned(),
        env!("CARGO_PKG_VERSION").to_owned(),
        expected_expiry_unix().to_string(),
    ];
    #[cfg(feature = "http")]
    let sim = simulator();
    #[cfg(feature = "http")]
    if let Some(sim) = &sim {
        args.push(sim.base_url());
    }
    #[cfg(not(feature = "http"))]
    let _ = simulator();
    let mut cmd = wrapped(program);
    let out = cmd.args(&args).output().expect("run the C test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "{} failed ({}):\n{stdout}\n{stderr}",
        program.display(),
        out.status
    );
    assert!(stdout.contains(" checks, 0 failed"), "{stdout}");
    if cfg!(any(feature = "ffi-test-hooks", debug_assertions)) {
        assert!(stdout.contains("panic hook: tested"), "{stdout}");
    }
    if cfg!(feature = "http") {
        assert!(
            stdout.contains("dep: tested against http://127.0.0.1:"),
            "{stdout}"
        );
    }
    if std::env::var_os("MDMLINK_C_TEST_WRAPPER").is_some_and(|w| !w.is_empty()) {
        eprintln!("{stderr}");
    }
}

#[test]
fn c_tests_static() {
    let lib = library_dir();
    let dir = out_dir("static");
    let program = dir.join("test_capi");
    cc(
        &[
            "-lpthread",
            "-ldl",
            "-lm",
            "-o",
            program.to_str().expect("UTF-8 path"),
        ],
        &[lib.join(STATIC_LIB)],
    );
    run(&program);
}

/// The SONAME build.rs gives the library: `libmdmlink.so.0.<minor>` for 0.x
/// (every 0.x minor release may break the ABI), `libmdmlink.so.<major>` after.
fn soname() -> String {
    let major = env!("CARGO_PKG_VERSION_MAJOR");
    if major == "0" {
        format!("libmdmlink.so.0.{}", env!("CARGO_PKG_VERSION_MINOR"))
    } else {
        format!("libmdmlink.so.{major}")
    }
}

#[test]
fn c_tests_shared_with_soname() {
    let lib = library_dir();
    let dir = out_dir("shared");
    // The linker records the SONAME: provide that file the way an install
    // does (scripts/install.sh), beside the program.
    let so = dir.join(soname());
    let _ = std::fs::remove_file(&so);
    std::fs::copy(lib.join(SHARED_LIB), &so).expect("copy the shared library");
    // And `libmdmlink.so` for `-lmdmlink`, as an install links it.
    let dev_link = dir.join("libmdmlink.so");
    let _ = std::fs::remove_file(&dev_link);
    std::os::unix::fs::symlink(soname(), &dev_link).expect("link libmdmlink.so");
    let program = dir.join("test_capi");
    cc(
        &[
            "-L",
            dir.to_str().expect("UTF-8 path"),
            "-lmdmlink",
            &format!("-Wl,-rpath,{}", dir.display()),
            "-o",
            program.to_str().expect("UTF-8 path"),
        ],
        &[],
    );
    let needed = Command::new("readelf")
        .args(["-d"])
        .arg(&program)
        .output()
        .expect("readelf (binutils)");
    let needed = String::from_utf8_lossy(&needed.stdout);
    assert!(
        needed.contains(&format!("Shared library: [{}]", soname())),
        "the program should need {}:\n{needed}",
        soname()
    );
    run(&program);
}

/// The store API's C tests (`capi/tests/c/test_store.c`), statically linked.
#[cfg(feature = "sqlite")]
#[test]
fn c_store_tests() {
    let (dir, program) = compile_static_test("store");
    let mut cmd = wrapped(&program);
    let out = cmd
        .arg(apple_fixture_path(""))
        .arg(&dir)
        .output()
        .expect("run the C store test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "test_store failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" checks, 0 failed"), "{stdout}");
}

#[test]
fn shared_library_soname_is_abi_version() {
    let out = Command::new("readelf")
        .args(["-d"])
        .arg(library_dir().join(SHARED_LIB))
        .output()
        .expect("readelf (binutils)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("Library soname: [{}]", soname())),
        "{text}"
    );
}

/// The `mdmlink-simulator` binary: `MDMLINK_SIMULATOR`, else the one beside
/// this run's libraries (`target/<profile>/mdmlink-simulator`, which
/// `cargo test --workspace --all-features` builds). Never skipped: a
/// missing binary fails the test with what to build.
#[cfg(all(feature = "sqlite", feature = "http"))]
fn simulator_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("MDMLINK_SIMULATOR") {
        return PathBuf::from(path);
    }
    let path = library_dir()
        .parent()
        .expect("target/<profile>")
        .join("mdmlink-simulator");
    assert!(
        path.exists(),
        "{} is missing: build it first (`cargo build --all-features --bin mdmlink-simulator`) or set MDMLINK_SIMULATOR",
        path.display()
    );
    path
}

/// A running `mdmlink-simulator` (stopped by closing its stdin when dropped)
/// and the directory its API account files are in.
#[cfg(all(feature = "sqlite", feature = "http"))]
struct SimulatorProcess {
    child: std::process::Child,
    base_url: String,
    files: tempfile::TempDir,
}

#[cfg(all(feature = "sqlite", feature = "http"))]
impl SimulatorProcess {
    fn start(extra: &[&str]) -> Self {
        use std::io::BufRead as _;
        use std::process::Stdio;
        let files = tempfile::tempdir().expect("a temporary directory");
        let mut child = Command::new(simulator_binary())
            .arg(files.path())
            .args(["--devices", "6", "--seed", "3"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mdmlink-simulator");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the simulator's URL");
        let base_url = line.trim().to_owned();
        assert!(base_url.starts_with("http://127.0.0.1:"), "{line:?}");
        Self {
            child,
            base_url,
            files,
        }
    }
}

#[cfg(all(feature = "sqlite", feature = "http"))]
impl Drop for SimulatorProcess {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// The School and Business Manager API's C tests
/// (`capi/tests/c/test_portal_api.c`), statically linked, against two
/// `mdmlink-simulator` processes: an Apple Business one and an Apple School
/// Manager one (`--school`).
#[cfg(all(feature = "sqlite", feature = "http"))]
#[test]
fn c_portal_api_tests() {
    let (dir, program) = compile_static_test("portal_api");
    let business = SimulatorProcess::start(&[]);
    let school = SimulatorProcess::start(&["--school"]);
    let mut cmd = wrapped(&program);
    let out = cmd
        .arg(&dir)
        .arg(business.files.path())
        .arg(&business.base_url)
        .arg(school.files.path())
        .arg(&school.base_url)
        .output()
        .expect("run the C portal API test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "test_portal_api failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" checks, 0 failed"), "{stdout}");
    assert!(
        stdout.contains(&format!("portal api: tested against {}", business.base_url)),
        "{stdout}"
    );
}
