//! The decrypted-payload parser (`hazmat::payload::parse`): inner MIME,
//! MESSAGE armor, JSON. A parsed token must survive rendering and parsing
//! again unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mdmlink::hazmat::payload;

fuzz_target!(|data: &[u8]| {
    match payload::parse(data) {
        Ok(token) => {
            let again = payload::parse(&payload::render(&token)).expect("rendered token parses");
            assert_eq!(again, token);
            let json = token.to_json();
            assert_eq!(
                mdmlink::ServerToken::from_json(&json).expect("own JSON parses"),
                token
            );
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
