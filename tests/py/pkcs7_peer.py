"""Python `cryptography` as an independent peer for the interop tests.

usage:
  pkcs7_peer.py encrypt CERT_PEM IN OUT {aes128|aes256} {der|pem|smime}
  pkcs7_peer.py decrypt KEY_PEM CERT_PEM IN {der|pem|smime}   (plaintext to stdout)
  pkcs7_peer.py readkey KEY_PEM PASSWORD                       (prints the public key PEM)
  pkcs7_peer.py readcert CERT                                  (prints serial hex and CN)
"""
import sys

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7

ENCODINGS = {
    "der": serialization.Encoding.DER,
    "pem": serialization.Encoding.PEM,
    "smime": serialization.Encoding.SMIME,
}


def main(argv):
    cmd = argv[1]
    if cmd == "encrypt":
        cert = x509.load_pem_x509_certificate(open(argv[2], "rb").read())
        data = open(argv[3], "rb").read()
        alg = {"aes128": algorithms.AES128, "aes256": algorithms.AES256}[argv[5]]
        out = (
            pkcs7.PKCS7EnvelopeBuilder()
            .set_data(data)
            .add_recipient(cert)
            .set_content_encryption_algorithm(alg)
            .encrypt(ENCODINGS[argv[6]], [pkcs7.PKCS7Options.Binary])
        )
        open(argv[4], "wb").write(out)
    elif cmd == "decrypt":
        key = serialization.load_pem_private_key(open(argv[2], "rb").read(), None)
        cert = x509.load_pem_x509_certificate(open(argv[3], "rb").read())
        data = open(argv[4], "rb").read()
        fn = {
            "der": pkcs7.pkcs7_decrypt_der,
            "pem": pkcs7.pkcs7_decrypt_pem,
            "smime": pkcs7.pkcs7_decrypt_smime,
        }[argv[5]]
        sys.stdout.buffer.write(fn(data, cert, key, []))
    elif cmd == "readkey":
        key = serialization.load_pem_private_key(open(argv[2], "rb").read(), argv[3].encode())
        sys.stdout.buffer.write(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    elif cmd == "readcert":
        raw = open(argv[2], "rb").read()
        cert = (
            x509.load_pem_x509_certificate(raw)
            if raw.startswith(b"-----")
            else x509.load_der_x509_certificate(raw)
        )
        cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
        print(f"{cert.serial_number:X} {cn}")
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv)
