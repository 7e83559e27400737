//! Library messages speak the library's words: a C program or a vendor's
//! Rust code sees them too, so they never name the command line's commands,
//! options or environment variables (the command adds its own hints).
//! Checked two ways: every error literal in the library's sources, and the
//! messages of the errors that used to carry such words.

use std::path::Path;

use mdmlink::store::registry::RegistryError;
use mdmlink::store::{StoreError, master_key::MasterKeyError};

/// What only the command line knows.
const CLI_WORDS: [&str; 9] = [
    "`mdmlink ",
    "mdmlink org ",
    "store keygen",
    "--org",
    "--force",
    "--master-key-file",
    "--portal",
    "MDMLINK_",
    "store rekey",
];

fn cli_word(text: &str) -> Option<&'static str> {
    CLI_WORDS.into_iter().find(|w| text.contains(w))
}

fn scan(dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let rel = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap();
        let rel_text = rel.to_string_lossy();
        // The faces own their words; tests may quote them.
        if rel_text.starts_with("src/bin") || rel_text.starts_with("src/ffi") {
            continue;
        }
        if path.is_dir() {
            scan(&path, found);
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy();
        if !name.ends_with(".rs") || name == "tests.rs" || name.ends_with("_tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // Only the code before a file's unit tests.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (i, line) in code.lines().enumerate() {
            let t = line.trim_start();
            if t.starts_with("//") || !t.contains('"') {
                continue;
            }
            if let Some(w) = cli_word(t) {
                found.push(format!("{rel_text}:{}: {w:?} in {t}", i + 1));
            }
        }
    }
}

#[test]
fn no_library_string_names_a_command_line_word() {
    let mut found = Vec::new();
    scan(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut found,
    );
    assert!(
        found.is_empty(),
        "library strings with CLI words:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_errors_that_named_commands_now_speak_library_words() {
    let errors: Vec<Box<dyn std::error::Error>> = vec![
        Box::new(RegistryError::NotFound(mdmlink::NotFound::organization(
            "Contoso",
        ))),
        Box::new(RegistryError::NoOrganization),
        Box::new(RegistryError::OrganizationRequired(vec![
            "A".into(),
            "B".into(),
        ])),
        Box::new(RegistryError::OrganizationNotEmpty {
            name: "A".into(),
            servers: 2,
        }),
        Box::new(RegistryError::NotEncrypted),
        Box::new(RegistryError::LegacyPassphrase {
            server: "S".into(),
            wrong: false,
        }),
        Box::new(MasterKeyError::Required),
        Box::new(StoreError::PlaintextSecret {
            store: "postgres://db".into(),
            field: mdmlink::store::SecretField::PrivateKey,
        }),
        Box::new(MasterKeyError::Format {
            source_name: "key.bin".into(),
        }),
    ];
    for e in &errors {
        let text = e.to_string();
        assert_eq!(cli_word(&text), None, "{text}");
        assert!(!text.is_empty());
    }
    // Still saying what to do, in the library's words.
    assert!(
        RegistryError::NotEncrypted
            .to_string()
            .contains("rekey the store")
    );
    assert!(
        RegistryError::OrganizationRequired(vec!["A".into(), "B".into()])
            .to_string()
            .contains("name the one to use")
    );
}
