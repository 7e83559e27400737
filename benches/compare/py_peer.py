"""Python `cryptography` as a peer for benches/compare/compare.sh: key
generation (2048 bits), the PKCS #1 v1.5 private operation on the same
encrypted key bytes as mdmlink, and decrypting the same token
(`pkcs7_decrypt_smime`, and `pkcs7_decrypt_der` on its DER re-encoding), timed in-process with `time.perf_counter`.

usage: py_peer.py KEY.pem CERT.pem TOKEN.p7m TOKEN.der ENC_KEY.bin RUNS
(TOKEN.der: the same token re-encoded as DER by `openssl cms -cmsout`)
prints "name value unit" lines.
"""
import statistics
import sys
import time
import uuid

import cryptography
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def per_op(fn, batches=15, per_batch=40):
    fn()
    out = []
    for _ in range(batches):
        start = time.perf_counter()
        for _ in range(per_batch):
            fn()
        out.append((time.perf_counter() - start) / per_batch)
    return statistics.median(out)


def main(argv):
    key_pem, cert_pem, token_path, der_path, enc_key_path, runs = argv[1:7]
    runs = max(1, int(runs))
    key = serialization.load_pem_private_key(open(key_pem, "rb").read(), None)
    cert = x509.load_pem_x509_certificate(open(cert_pem, "rb").read())
    token = open(token_path, "rb").read()
    enc_key = open(enc_key_path, "rb").read()
    print(f"version {cryptography.__version__} text")

    times = []
    for _ in range(runs):
        start = time.perf_counter()
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        times.append(time.perf_counter() - start)
    print(f"keygen_2048 {statistics.median(times) * 1e3:.3f} ms")

    t = per_op(lambda: key.decrypt(enc_key, padding.PKCS1v15()))
    print(f"rsa_decrypt_2048 {t * 1e6:.3f} us")

    # The ES256 client assertion of Apple's School and Business Manager API,
    # signed by PyJWT (with `cryptography`) from the same claims mdmlink makes.
    try:
        import jwt as pyjwt
        from cryptography.hazmat.primitives.asymmetric import ec
    except ImportError:
        pyjwt = None
    if pyjwt is not None:
        ec_key = ec.generate_private_key(ec.SECP256R1())
        client_id = "BUSINESSAPI.9703f56c-10ce-4876-8f59-e78e5e23a152"

        def assertion():
            now = int(time.time())
            claims = {"iss": client_id, "sub": client_id,
                      "aud": "https://account.apple.com/auth/oauth2/v2/token",
                      "iat": now, "exp": now + 600, "jti": str(uuid.uuid4())}
            pyjwt.encode(claims, ec_key, algorithm="ES256",
                         headers={"kid": "d136aa66-0c3b-4bd4"})

        t = per_op(assertion, per_batch=200)
        print(f"client_assertion_es256 {t * 1e6:.3f} us")
        print(f"pyjwt_version {pyjwt.__version__} text")

    try:
        from cryptography.hazmat.primitives.serialization.pkcs7 import (
            pkcs7_decrypt_der,
            pkcs7_decrypt_smime,
        )
    except ImportError:
        print("token_open_apple nan us")  # this version has no PKCS#7 decryption
        print("token_open_der nan us")
        return
    try:
        t = per_op(lambda: pkcs7_decrypt_smime(token, cert, key, []))
        print(f"token_open_apple {t * 1e6:.3f} us")
    except ValueError as e:
        # Apple's token is BER with indefinite lengths, which this version
        # refuses; the DER re-encoding of the same token is measured below.
        print("token_open_apple nan us")
        print(f"apple_error {str(e).replace(' ', '_')} text")
    der = open(der_path, "rb").read()
    t = per_op(lambda: pkcs7_decrypt_der(der, cert, key, []))
    print(f"token_open_der {t * 1e6:.3f} us")

if __name__ == "__main__":
    main(sys.argv)
