"""Independent verifier for mdmlink's Access Management JWTs (PyJWT).

Usage: jwt_peer.py CERT_PEM EXPECTED_ISS < token

Verifies the RS256 signature with the certificate's public key, requires the
claims Apple documents (iss, iat, jti, service_type), and prints the header and
claims as JSON. Exits 1 with the PyJWT error name when verification fails.
"""

import json
import sys

import jwt
from cryptography import x509


def main() -> int:
    cert_path, issuer = sys.argv[1], sys.argv[2]
    token = sys.stdin.read().strip()
    with open(cert_path, "rb") as f:
        public_key = x509.load_pem_x509_certificate(f.read()).public_key()
    try:
        claims = jwt.decode(
            token,
            public_key,
            algorithms=["RS256"],
            issuer=issuer,
            options={"require": ["iss", "iat", "jti"], "verify_iat": True},
        )
    except jwt.PyJWTError as e:
        print(type(e).__name__, file=sys.stderr)
        return 1
    header = jwt.get_unverified_header(token)
    print(json.dumps({"header": header, "claims": claims}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
