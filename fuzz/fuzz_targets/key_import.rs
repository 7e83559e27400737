//! The key and certificate importers: `ServerKeypair::from_pem`,
//! `ServerKeypair::from_der` and `ServerCertificate::from_pem_or_der`.
//! A key that imports must export and import again to the same public key.
//! (No password is given: PBKDF2 iteration counts in a hostile file would only
//! measure PBKDF2.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use mdmlink::keypair::{ServerCertificate, ServerKeypair};

fuzz_target!(|data: &[u8]| {
    for result in [
        ServerKeypair::from_pem(data, None),
        ServerKeypair::from_der(data, None),
    ] {
        match result {
            Ok(k) => {
                let der = k.private_key_der().expect("export");
                let again = ServerKeypair::from_der(&der, None).expect("re-import");
                assert_eq!(again.public_key_fingerprint(), k.public_key_fingerprint());
                let _ = format!("{k:?}");
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    match ServerCertificate::from_pem_or_der(data) {
        Ok(c) => {
            let again = ServerCertificate::from_der(c.to_der()).expect("own DER parses");
            assert_eq!(again.to_der(), c.to_der());
            let _ = (
                c.serial_hex(),
                c.issuer(),
                c.subject(),
                c.common_name(),
                format!("{c:?}"),
            );
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
