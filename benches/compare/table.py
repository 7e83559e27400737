"""Prints the comparison table from the files compare.sh wrote in DIR
(mdmlink.txt, openssl.txt, python.txt, go.txt: lines "name value unit"),
the ratio mdmlink/peer for each row, and PASS/MISS for
each target. Exits 0 on MISS; exits 1 only if mdmlink's own numbers are missing.

usage: table.py DIR
"""
import datetime
import math
import os
import platform
import sys


def load(path):
    out = {}
    if not os.path.exists(path):
        return out
    for line in open(path):
        parts = line.split()
        if len(parts) != 3:
            continue
        name, value, unit = parts
        if unit == "text":
            out[name] = value
            continue
        try:
            out[name] = float(value)
        except ValueError:
            pass
    return out


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def fmt(value, unit):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if value >= 100:
        return f"{value:,.0f} {unit}"
    if value >= 10:
        return f"{value:.1f} {unit}"
    return f"{value:.2f} {unit}"


def ratio(a, b):
    if a is None or b is None or math.isnan(a) or math.isnan(b) or b == 0:
        return "n/a"
    return f"{a / b:.2f}x"


def main(argv):
    d = argv[1]
    m = load(os.path.join(d, "mdmlink.txt"))
    peers = {
        "openssl": load(os.path.join(d, "openssl.txt")),
        "python": load(os.path.join(d, "python.txt")),
        "go": load(os.path.join(d, "go.txt")),
    }
    needed = ["keygen_2048", "rsa_decrypt_2048", "token_open_apple", "check_name_free",
              "check_name_taken", "expiry_evaluate", "mem_per_server", "mem_per_server_token"]
    missing = [k for k in needed if k not in m]
    if missing:
        print(f"table.py: mdmlink's numbers are missing: {', '.join(missing)}", file=sys.stderr)
        return 1

    names = {
        "openssl": f"OpenSSL {peers['openssl'].get('version', '?')}",
        "python": f"Python cryptography {peers['python'].get('version', '?')}",
        "go": f"Go {peers['go'].get('version', '?')} crypto/rsa",
    }
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"mdmlink vs peers, {now}, {os.cpu_count()} CPUs ({cpu_model()}), "
          f"runs={int(m.get('runs', 0)) or '?'}, servers={int(m.get('servers', 0)):,}")
    rows = []

    def peer_rows(label, key, unit, mine, how):
        first = True
        for p, what in how:
            v = peers[p].get(key)
            if v is None:
                continue
            rows.append((label if first else "", fmt(mine, unit) if first else "",
                         f"{names[p]} {what}".strip(), fmt(v, unit), ratio(mine, v)))
            first = False
        if first:
            rows.append((label, fmt(mine, unit), "(no peer ran)", "", ""))

    peer_rows("RSA-2048 PKCS#1 v1.5 private op", "rsa_decrypt_2048", "us",
              m["rsa_decrypt_2048"],
              [("openssl", "speed (sign)"), ("go", "DecryptPKCS1v15"), ("python", "decrypt")])
    peer_rows("keygen 2048 + certificate, median", "keygen_2048", "ms", m["keygen_2048"],
              [("openssl", "genpkey, net of start"), ("go", "GenerateKey"),
               ("python", "generate_private_key")])
    if "rsa_keygen_2048" in m:
        peer_rows("keygen 2048, key only, median", "keygen_2048", "ms", m["rsa_keygen_2048"],
                  [("openssl", "genpkey, net of start"), ("go", "GenerateKey"),
                   ("python", "generate_private_key")])
    peer_rows("open Apple token (S/MIME, BER)", "token_open_apple", "us",
              m["token_open_apple"],
              [("openssl", "smime -decrypt, net of pkey"), ("python", "pkcs7_decrypt_smime")])
    if "token_open_der" in m:
        peer_rows("open same token as DER", "token_open_der", "us", m["token_open_der"],
                  [("python", "pkcs7_decrypt_der")])

    if "client_assertion_es256" in m:
        pyjwt = peers["python"].get("pyjwt_version", "?")
        peer_rows("ES256 client assertion (School and Business Manager API)",
                  "client_assertion_es256", "us", m["client_assertion_es256"],
                  [("python", f"+ PyJWT {pyjwt} jwt.encode")])

    head = ("measurement", "mdmlink", "peer", "peer value", "mdmlink/peer")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(5)]
    line = "  ".join("{:<%d}" % w for w in widths)
    print(line.format(*head))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line.format(*r))

    n = int(m.get("servers", 0))
    print()
    print("mdmlink alone:")
    own = [
        ("token open / bare RSA op", ratio(m["token_open_apple"], m["rsa_decrypt_2048"])),
        (f"add_linked_server (to {n:,})", fmt(m.get("add_linked_server"), "ns")),
        (f"check_name at {n:,} servers, free / taken",
         f"{fmt(m['check_name_free'], 'ns')} / {fmt(m['check_name_taken'], 'ns')}"),
        (f"ExpiryPolicy::evaluate over {n:,} tokens", fmt(m["expiry_evaluate"], "ms")),
        (f"Organization::statuses over {n:,} servers", fmt(m.get("statuses"), "ms")),
        ("memory per server, no token / with token",
         f"{m['mem_per_server']:.0f} B / {m['mem_per_server_token']:.0f} B"),
    ]
    if "ffi_getter" in m:
        own.append(("C API getter / Rust getter, per call",
                    f"{fmt(m['ffi_getter'], 'ns')} / {fmt(m.get('rust_getter'), 'ns')}"))
    if "process_start" in peers["openssl"]:
        own.append(("(openssl process start / start+key load)",
                    f"{fmt(peers['openssl']['process_start'], 'ms')} / "
                    f"{fmt(peers['openssl'].get('key_load_process'), 'ms')}"))
    if "apple_error" in peers["python"]:
        own.append(("(Python on the Apple BER token)",
                    "refused: " + peers["python"]["apple_error"].replace("_", " ")))
    w = max(len(k) for k, _ in own)
    for k, v in own:
        print(f"  {k:<{w}}  {v}")

    print()
    print("targets:")
    targets = []
    r = m["token_open_apple"] / m["rsa_decrypt_2048"]
    targets.append(("token open <= 1.1x bare RSA op", r <= 1.1, f"{r:.2f}x"))
    for p in ("openssl", "go"):
        v = peers[p].get("keygen_2048")
        if v:
            # "Well below": at most three quarters of the peer's median.
            r = m["keygen_2048"] / v
            targets.append((f"keygen-2048 median well below {names[p]} (<= 0.75x)",
                            r <= 0.75, f"{r:.2f}x"))
    worst = max(m["check_name_free"], m["check_name_taken"])
    if n >= 1_000_000:
        targets.append(("check_name at 1M servers <= 1 us", worst <= 1000,
                        fmt(worst, "ns")))
        targets.append(("expiry scan of 1M tokens <= 50 ms", m["expiry_evaluate"] <= 50,
                        fmt(m["expiry_evaluate"], "ms")))
    else:
        print(f"  (scale targets need servers=1,000,000; this run used {n:,})")
    if m.get("ffi_overhead") is not None:
        targets.append(("FFI overhead <= 100 ns per call", m["ffi_overhead"] <= 100,
                        fmt(m["ffi_overhead"], "ns")))
    else:
        targets.append(("FFI overhead <= 100 ns per call", None, "not measured"))
    w = max(len(t[0]) for t in targets)
    for name, ok, value in targets:
        verdict = "PASS" if ok else ("----" if ok is None else "MISS")
        print(f"  {verdict}  {name:<{w}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
