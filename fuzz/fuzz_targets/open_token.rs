//! The token opener (`token::open`) with a fixed key: the real Apple fixture
//! key, once with its certificate (recipient matching) and once without
//! (blind attempts). Seeds decrypt with this key, so mutations reach the RSA,
//! CBC and payload layers.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mdmlink::keypair::{ServerCertificate, ServerKeypair};
use mdmlink::token::{self, TokenError};

const KEY_PEM: &[u8] =
    include_bytes!("../../tests/fixtures/apple-token-1/apple-mdm-client-tests-1.pem");
const CERT_PEM: &[u8] =
    include_bytes!("../../tests/fixtures/apple-token-1/apple-mdm-client-tests-1.crt");

static BARE: LazyLock<ServerKeypair> =
    LazyLock::new(|| ServerKeypair::from_pem(KEY_PEM, None).expect("fixture key"));
static WITH_CERT: LazyLock<ServerKeypair> = LazyLock::new(|| {
    let cert = ServerCertificate::from_pem(CERT_PEM).expect("fixture certificate");
    BARE.clone()
        .with_certificate(cert)
        .expect("matching certificate")
});

fuzz_target!(|data: &[u8]| {
    let with_cert = token::open(data, &*WITH_CERT);
    if let Err(e) = &with_cert {
        // Errors render without panicking.
        let _ = e.to_string();
    }
    // Without the certificate the same key opens whatever opened with it,
    // as long as the token has no more recipients than are tried blindly.
    if let Ok(t) = &with_cert {
        let _ = format!("{t:?}");
        let cms = mdmlink::hazmat::smime::unarmor(data).expect("it opened");
        let count = mdmlink::hazmat::envelope::recipients(&cms).expect("it opened").len();
        if count <= mdmlink::hazmat::envelope::MAX_BLIND_RECIPIENTS {
            let bare = token::open(data, &*BARE).expect("opened with the certificate, not without");
            assert_eq!(&bare, t);
        }
    } else if matches!(with_cert, Err(TokenError::WrongRecipient { .. })) {
        let _ = token::open(data, &*BARE);
    }
});
