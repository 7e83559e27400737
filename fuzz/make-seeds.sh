#!/usr/bin/env bash
# Generates the fuzz seed corpora in fuzz/corpus/<target>/ (not committed):
# the real Apple token, tokens sealed by mdmlink and by OpenSSL to the Apple
# fixture certificate (so the fuzz targets' fixed key opens them), payloads,
# names and keys. Needs: cargo, openssl. Run from anywhere.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
fx="$root/tests/fixtures/apple-token-1"
corpus="$here/corpus"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$corpus"/{open_token,payload_parse,server_name,key_import}

# open_token: the real token, mdmlink-sealed tokens, OpenSSL-sealed tokens.
cp "$fx/apple-mdm-client-tests-1-server-token.p7m" "$corpus/open_token/apple-token.p7m"
(cd "$root" && MDMLINK_FUZZ_SEEDS="$tmp/mdmlink" cargo test --quiet --all-features --test hostile -- --ignored write_fuzz_seeds >/dev/null)
cp "$tmp"/mdmlink/mdmlink-* "$corpus/open_token/"
payload="$tmp/mdmlink/payload.txt"
for c in aes128 aes256 des3; do
  openssl smime -encrypt -"$c" -in "$payload" -out "$corpus/open_token/openssl-smime-$c" "$fx/apple-mdm-client-tests-1.crt"
  openssl cms -encrypt -"$c" -in "$payload" -outform DER -out "$corpus/open_token/openssl-cms-$c.der" "$fx/apple-mdm-client-tests-1.crt"
done
openssl cms -encrypt -aes128 -keyid -in "$payload" -outform PEM -out "$corpus/open_token/openssl-cms-keyid.pem" "$fx/apple-mdm-client-tests-1.crt"
# The Apple token as raw BER, too.
sed '1,/^$/d' "$fx/apple-mdm-client-tests-1-server-token.p7m" | base64 -d > "$corpus/open_token/apple-token.ber"

# payload_parse: Apple's payload (from the expected JSON) and variants.
json="$(tr -d '\n' < "$fx/expected.json")"
cp "$payload" "$corpus/payload_parse/mdmlink-rendered"
printf 'Content-Type: text/plain;charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n-----BEGIN MESSAGE-----\n%s\n-----END MESSAGE-----\n' "$json" > "$corpus/payload_parse/apple"
printf '%s' "$json" > "$corpus/payload_parse/bare-json"
printf -- '-----BEGIN MESSAGE-----\n%s\n-----END MESSAGE-----\n' "$json" > "$corpus/payload_parse/armor-only"

# server_name: newline-separated names.
printf 'Main MDM\nmain mdm\n' > "$corpus/server_name/case"
printf 'Stra\xc3\x9fe\nSTRASSE\n' > "$corpus/server_name/fold"
printf 'Caf\xc3\xa9\nCafe\xcc\x81\n' > "$corpus/server_name/nfc"
printf 'Unassigned\n  Building A  \nbuilding a\n' > "$corpus/server_name/reserved"
printf 'evil\xe2\x80\xaename\n' > "$corpus/server_name/bidi"

# key_import: the fixture key and certificate in each form.
cp "$fx/apple-mdm-client-tests-1.pem" "$corpus/key_import/pkcs1.pem"
cp "$fx/apple-mdm-client-tests-1.der" "$corpus/key_import/pkcs1.der"
cp "$fx/apple-mdm-client-tests-1.crt" "$corpus/key_import/cert.pem"
openssl x509 -in "$fx/apple-mdm-client-tests-1.crt" -outform DER -out "$corpus/key_import/cert.der"
openssl pkcs8 -topk8 -nocrypt -in "$fx/apple-mdm-client-tests-1.pem" -out "$corpus/key_import/pkcs8.pem"
openssl pkcs8 -topk8 -nocrypt -in "$fx/apple-mdm-client-tests-1.pem" -outform DER -out "$corpus/key_import/pkcs8.der"
cat "$corpus/key_import/pkcs8.pem" "$fx/apple-mdm-client-tests-1.crt" > "$corpus/key_import/key-and-cert.pem"
openssl pkcs8 -topk8 -v2 aes-256-cbc -iter 1 -passout pass:fuzz -in "$fx/apple-mdm-client-tests-1.pem" -out "$corpus/key_import/encrypted.pem"

for t in open_token payload_parse server_name key_import; do
  echo "seeds: $t $(ls "$corpus/$t" | wc -l)"
done
