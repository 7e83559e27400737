//! Content-encryption ciphers for CMS EnvelopedData (RFC 5652 §6.3), CBC mode
//! with PKCS #7 padding (RFC 5652 §6.3, "Content-encryption Process").
//!
//! CBC gives confidentiality, not integrity: a decrypted plaintext is only
//! trusted after the payload validation in [`super::payload`].

use aes::{Aes128, Aes192, Aes256};
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
use der::asn1::ObjectIdentifier;
use des::TdesEde3;
use zeroize::Zeroizing;

/// AES-128-CBC, RFC 3565 §4.1.
pub const AES_128_CBC: ObjectIdentifier = const_oid::db::rfc5911::ID_AES_128_CBC;
/// AES-192-CBC, RFC 3565 §4.1.
pub const AES_192_CBC: ObjectIdentifier = const_oid::db::rfc5911::ID_AES_192_CBC;
/// AES-256-CBC, RFC 3565 §4.1.
pub const AES_256_CBC: ObjectIdentifier = const_oid::db::rfc5911::ID_AES_256_CBC;
/// DES-EDE3-CBC, RFC 3370 §5.1.
pub const DES_EDE3_CBC: ObjectIdentifier = const_oid::db::rfc5911::DES_EDE_3_CBC;

/// A content-encryption algorithm mdmlink opens and seals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ContentCipher {
    /// AES-128-CBC: what Apple uses.
    #[default]
    Aes128Cbc,
    /// AES-192-CBC.
    Aes192Cbc,
    /// AES-256-CBC.
    Aes256Cbc,
    /// Triple DES (EDE, three keys) in CBC mode: accepted for old tooling.
    DesEde3Cbc,
}

/// The cipher failed: wrong key length, wrong IV length, or bad padding.
/// Deliberately carries no detail (see [`super::TokenError::Decrypt`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("the content cipher failed (wrong key or IV length, or bad padding)")]
pub struct CipherError;

impl ContentCipher {
    /// Every supported cipher.
    pub const ALL: [ContentCipher; 4] = [
        ContentCipher::Aes128Cbc,
        ContentCipher::Aes192Cbc,
        ContentCipher::Aes256Cbc,
        ContentCipher::DesEde3Cbc,
    ];

    /// The cipher's algorithm identifier.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            ContentCipher::Aes128Cbc => AES_128_CBC,
            ContentCipher::Aes192Cbc => AES_192_CBC,
            ContentCipher::Aes256Cbc => AES_256_CBC,
            ContentCipher::DesEde3Cbc => DES_EDE3_CBC,
        }
    }

    /// The cipher with algorithm identifier `oid`, if supported.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.oid() == *oid)
    }

    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            ContentCipher::Aes128Cbc => 16,
            ContentCipher::Aes192Cbc | ContentCipher::DesEde3Cbc => 24,
            ContentCipher::Aes256Cbc => 32,
        }
    }

    /// IV (and block) length in bytes.
    pub fn iv_len(self) -> usize {
        match self {
            ContentCipher::DesEde3Cbc => 8,
            _ => 16,
        }
    }

    /// A short name, as OpenSSL spells it.
    pub fn name(self) -> &'static str {
        match self {
            ContentCipher::Aes128Cbc => "AES-128-CBC",
            ContentCipher::Aes192Cbc => "AES-192-CBC",
            ContentCipher::Aes256Cbc => "AES-256-CBC",
            ContentCipher::DesEde3Cbc => "DES-EDE3-CBC",
        }
    }

    /// Decrypts `ciphertext` and removes PKCS #7 padding.
    ///
    /// Fails, without saying why, when the key or IV has the wrong length, the
    /// ciphertext is not a whole number of blocks, or the padding is invalid.
    pub fn decrypt(
        self,
        key: &[u8],
        iv: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CipherError> {
        fn run<C: BlockModeDecrypt + KeyIvInit>(
            key: &[u8],
            iv: &[u8],
            ct: &[u8],
        ) -> Result<Zeroizing<Vec<u8>>, CipherError> {
            let dec = C::new_from_slices(key, iv).map_err(|_| CipherError)?;
            let mut buf = Zeroizing::new(ct.to_vec());
            let len = dec
                .decrypt_padded::<Pkcs7>(&mut buf)
                .map_err(|_| CipherError)?
                .len();
            buf.truncate(len);
            Ok(buf)
        }
        if key.len() != self.key_len() || iv.len() != self.iv_len() {
            return Err(CipherError);
        }
        match self {
            ContentCipher::Aes128Cbc => run::<cbc::Decryptor<Aes128>>(key, iv, ciphertext),
            ContentCipher::Aes192Cbc => run::<cbc::Decryptor<Aes192>>(key, iv, ciphertext),
            ContentCipher::Aes256Cbc => run::<cbc::Decryptor<Aes256>>(key, iv, ciphertext),
            ContentCipher::DesEde3Cbc => run::<cbc::Decryptor<TdesEde3>>(key, iv, ciphertext),
        }
    }

    /// Pads `plaintext` (PKCS #7) and encrypts it.
    pub fn encrypt(self, key: &[u8], iv: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CipherError> {
        fn run<C: BlockModeEncrypt + KeyIvInit>(
            key: &[u8],
            iv: &[u8],
            pt: &[u8],
            block: usize,
        ) -> Result<Vec<u8>, CipherError> {
            let enc = C::new_from_slices(key, iv).map_err(|_| CipherError)?;
            let mut buf = vec![0u8; pt.len() + block];
            buf[..pt.len()].copy_from_slice(pt);
            let len = enc
                .encrypt_padded::<Pkcs7>(&mut buf, pt.len())
                .map_err(|_| CipherError)?
                .len();
            buf.truncate(len);
            Ok(buf)
        }
        if key.len() != self.key_len() || iv.len() != self.iv_len() {
            return Err(CipherError);
        }
        let b = self.iv_len();
        match self {
            ContentCipher::Aes128Cbc => run::<cbc::Encryptor<Aes128>>(key, iv, plaintext, b),
            ContentCipher::Aes192Cbc => run::<cbc::Encryptor<Aes192>>(key, iv, plaintext, b),
            ContentCipher::Aes256Cbc => run::<cbc::Encryptor<Aes256>>(key, iv, plaintext, b),
            ContentCipher::DesEde3Cbc => run::<cbc::Encryptor<TdesEde3>>(key, iv, plaintext, b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_cipher() {
        for c in ContentCipher::ALL {
            let key = vec![7u8; c.key_len()];
            let iv = vec![9u8; c.iv_len()];
            for len in [0usize, 1, 15, 16, 17, 100] {
                let pt = vec![0xA5u8; len];
                let ct = c.encrypt(&key, &iv, &pt).unwrap();
                assert_eq!(ct.len() % c.iv_len(), 0);
                assert!(ct.len() > len);
                assert_eq!(c.decrypt(&key, &iv, &ct).unwrap().as_slice(), pt.as_slice());
            }
            assert_eq!(ContentCipher::from_oid(&c.oid()), Some(c));
        }
    }

    #[test]
    fn wrong_lengths_and_padding_fail() {
        let c = ContentCipher::Aes128Cbc;
        let ct = c.encrypt(&[1; 16], &[2; 16], b"hello").unwrap();
        assert!(c.decrypt(&[1; 24], &[2; 16], &ct).is_err());
        assert!(c.decrypt(&[1; 16], &[2; 8], &ct).is_err());
        assert!(c.decrypt(&[1; 16], &[2; 16], &ct[..15]).is_err());
        assert!(c.decrypt(&[1; 16], &[2; 16], &[]).is_err());
        // NIST SP 800-38A F.2.1 first block, without padding, does not unpad.
        let k = [
            0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf,
            0x4f, 0x3c,
        ];
        let iv: [u8; 16] = core::array::from_fn(|i| i as u8);
        let ct = [
            0x76, 0x49, 0xab, 0xac, 0x81, 0x19, 0xb2, 0x46, 0xce, 0xe9, 0x8e, 0x9b, 0x12, 0xe9,
            0x19, 0x7d,
        ];
        assert!(c.decrypt(&k, &iv, &ct).is_err());
    }
}
