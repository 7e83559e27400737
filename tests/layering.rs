//! Lower layers do not reach up: the modules below the store (keys, tokens,
//! sessions, the device service, names, JWTs, expiry) return their own
//! error types and never name the store, the organization model or the
//! crate-wide `Error`; the key layer knows no CMS (it offers the plain RSA
//! operation, and `token` unwraps content keys with it).

use std::path::Path;

fn sources(path: &Path, out: &mut Vec<(String, String)>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            sources(&entry.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        let text = std::fs::read_to_string(path).unwrap();
        // Code only: comments and doc comments may point anywhere.
        let code: Vec<&str> = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect();
        out.push((path.display().to_string(), code.join("\n")));
    }
}

fn reaches(module: &str, forbidden: &[&str]) -> Vec<String> {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src")
            .join(module),
        &mut files,
    );
    assert!(!files.is_empty(), "no sources for {module}");
    let mut found = Vec::new();
    for (file, code) in files {
        for f in forbidden {
            if code.contains(f) {
                found.push(format!("{file} uses {f}"));
            }
        }
    }
    found
}

const UPWARD: [&str; 5] = [
    "crate::store",
    "crate::Error",
    "crate::error::",
    "crate::organization",
    "crate::ffi",
];

#[test]
fn modules_below_the_store_do_not_reach_up() {
    let mut found = Vec::new();
    for module in [
        "dep",
        "token",
        "keypair",
        "session",
        "jwt.rs",
        "name.rs",
        "expiry.rs",
        "portal.rs",
    ] {
        found.extend(reaches(module, &UPWARD));
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_key_layer_knows_no_cms() {
    let found = reaches("keypair", &["crate::token", "unwrap_content_key", "cms::"]);
    assert!(found.is_empty(), "{}", found.join("\n"));
}
