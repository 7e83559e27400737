//! Project Wycheproof vectors through the exact code paths the token opener
//! uses: RSA PKCS #1 v1.5 key transport ([`envelope::unwrap_content_key`]) and
//! AES-CBC with PKCS #7 padding ([`ContentCipher`]).
//!
//! rsa 0.10 decrypts PKCS #1 v1.5 with *implicit rejection*: a ciphertext of
//! the right length with bad padding does not fail, it yields a deterministic
//! pseudo-random message derived from the private key and the ciphertext. So
//! an "invalid" vector passes here when it gives an error, or a value that is
//! (a) the same on every decryption, whatever the blinding randomness, and
//! (b) not the message the vector's author encrypted. The opener then treats
//! such a value like any other wrong key (wrong length or bad CBC padding or a
//! payload that does not parse: [`mdmlink::token::TokenError::Decrypt`]).

use mdmlink::hazmat::envelope::unwrap_content_key;
use mdmlink::keypair::ServerKeypair;
use mdmlink::token::{ContentCipher, TokenError};
use rand_core::{TryCryptoRng, TryRng};
use rsa::{PrivateKey as RsaPrivateKey, pkcs8::DecodePrivateKey, traits::PublicKeyParts};
use wycheproof::TestResult;

/// A deterministic RNG with a caller-chosen seed, so the two decryptions of an
/// invalid vector use *different* blinding values: equal outputs then prove
/// the implicit-rejection value does not depend on the RNG.
struct SeededRng(u64);

impl TryRng for SeededRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.try_next_u64()? as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}
impl TryCryptoRng for SeededRng {}

#[derive(Default, Debug)]
struct Counts {
    valid: usize,
    invalid_error: usize,
    invalid_implicit: usize,
}

#[test]
#[cfg_attr(miri, ignore)]
fn rsa_pkcs1v15_decrypt_vectors() {
    use wycheproof::rsa_pkcs1_decrypt::{TestName, TestSet};
    let mut counts = Counts::default();
    let (mut sets, mut shipped) = (0, 0);
    for name in [TestName::Rsa2048, TestName::Rsa3072, TestName::Rsa4096] {
        let set = TestSet::load(name).expect("load Wycheproof set");
        sets += 1;
        shipped += set.test_groups.iter().map(|g| g.tests.len()).sum::<usize>();
        for group in set.test_groups {
            let key = RsaPrivateKey::from_pkcs8_der(&group.pkcs8)
                .unwrap_or_else(|e| panic!("{name:?}: key does not import: {e}"));
            assert_eq!(key.size() * 8, group.key_size, "{name:?}: key size");
            // Our own importer accepts the same key (PKCS #8 DER), same modulus.
            let keypair = ServerKeypair::from_der(&group.pkcs8, None)
                .unwrap_or_else(|e| panic!("{name:?}: ServerKeypair::from_der: {e}"));
            assert_eq!(keypair.public_key().n(), key.n());

            for test in group.tests {
                let id = format!("{name:?} tcId {} ({})", test.tc_id, test.comment);
                let first = unwrap_content_key(&key, &mut SeededRng(test.tc_id as u64), &test.ct);
                match test.result {
                    TestResult::Valid | TestResult::Acceptable => {
                        let msg =
                            first.unwrap_or_else(|e| panic!("{id}: valid vector failed: {e}"));
                        assert_eq!(msg.as_slice(), test.pt.as_slice(), "{id}: wrong message");
                        counts.valid += 1;
                    }
                    TestResult::Invalid => match first {
                        Err(e) => {
                            assert_eq!(e, TokenError::Decrypt, "{id}: error kind");
                            // Errors are public (length/range checks): also deterministic.
                            assert!(
                                unwrap_content_key(&key, &mut SeededRng(!0), &test.ct).is_err(),
                                "{id}: error not repeatable"
                            );
                            counts.invalid_error += 1;
                        }
                        Ok(value) => {
                            assert_ne!(
                                value.as_slice(),
                                test.pt.as_slice(),
                                "{id}: an invalid ciphertext decrypted to its message"
                            );
                            let second = unwrap_content_key(
                                &key,
                                &mut SeededRng(0xDEAD_BEEF ^ test.tc_id as u64),
                                &test.ct,
                            )
                            .unwrap_or_else(|e| panic!("{id}: second decryption failed: {e}"));
                            assert_eq!(
                                value.as_slice(),
                                second.as_slice(),
                                "{id}: implicit rejection is not deterministic"
                            );
                            counts.invalid_implicit += 1;
                        }
                    },
                }
            }
        }
    }
    let total = counts.valid + counts.invalid_error + counts.invalid_implicit;
    println!("wycheproof RSA PKCS#1 v1.5 decrypt: {sets} sets, {total} vectors, {counts:?}");
    assert_eq!(sets, 3);
    assert!(counts.valid > 0 && counts.invalid_implicit > 0 && counts.invalid_error > 0);
    assert_eq!(total, shipped, "every vector shipped with the crate ran");
}

fn cipher_for(key_bits: usize) -> ContentCipher {
    match key_bits {
        128 => ContentCipher::Aes128Cbc,
        192 => ContentCipher::Aes192Cbc,
        256 => ContentCipher::Aes256Cbc,
        other => panic!("no AES-CBC cipher with a {other}-bit key"),
    }
}

#[test]
fn aes_cbc_pkcs5_vectors() {
    use wycheproof::cipher::{TestName, TestSet};
    let set = TestSet::load(TestName::AesCbcPkcs5).expect("load Wycheproof set");
    let shipped: usize = set.test_groups.iter().map(|g| g.tests.len()).sum();
    let (mut valid, mut invalid) = (0usize, 0usize);
    for group in set.test_groups {
        let cipher = cipher_for(group.key_size);
        assert_eq!(group.nonce_size, cipher.iv_len() * 8);
        for test in group.tests {
            let id = format!("tcId {} ({})", test.tc_id, test.comment);
            assert_eq!(test.key.len(), cipher.key_len(), "{id}");
            let decrypted = cipher.decrypt(&test.key, &test.nonce, &test.ct);
            match test.result {
                TestResult::Valid | TestResult::Acceptable => {
                    let pt = decrypted.unwrap_or_else(|_| panic!("{id}: valid vector failed"));
                    assert_eq!(pt.as_slice(), test.pt.as_slice(), "{id}: decrypt");
                    let ct = cipher
                        .encrypt(&test.key, &test.nonce, &test.pt)
                        .unwrap_or_else(|_| panic!("{id}: encrypt failed"));
                    assert_eq!(ct, test.ct.as_slice(), "{id}: encrypt");
                    valid += 1;
                }
                TestResult::Invalid => {
                    assert!(decrypted.is_err(), "{id}: invalid vector decrypted");
                    invalid += 1;
                }
            }
        }
    }
    println!(
        "wycheproof AES-CBC-PKCS5: {} vectors ({valid} valid, {invalid} invalid)",
        valid + invalid
    );
    assert_eq!(valid + invalid, shipped);
    assert!(valid > 0 && invalid > 0, "{valid} valid, {invalid} invalid");
}
