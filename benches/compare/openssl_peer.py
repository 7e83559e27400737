"""OpenSSL 3 (the `openssl` CLI) as a peer for benches/compare/compare.sh.

* `rsa_decrypt_2048`: `openssl speed -seconds 2 -mr rsa2048`, private
  operations (sign, with CRT and blinding) per second, as time per operation.
* `keygen_2048`: `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`,
  median wall time of RUNS processes, minus the median of `openssl version`
  (process start, library load), which is printed too.
* `token_open_apple`: `openssl smime -decrypt` of the same token with the same
  key and certificate, median of RUNS processes, minus the median of
  `openssl pkey -in KEY -noout` (process start, provider loading and reading
  the PEM key, which mdmlink's in-process number does not include either).
  The raw time and the time net of `openssl version` alone are printed too.

usage: openssl_peer.py KEY.pem CERT.pem TOKEN.p7m RUNS
prints "name value unit" lines.
"""
import statistics
import subprocess
import sys
import time


def wall(args, runs):
    quiet = {"check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run(args, **quiet)  # warm up
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(args, **quiet)
        out.append(time.perf_counter() - start)
    return statistics.median(out)


def main(argv):
    key, cert, token, runs = argv[1], argv[2], argv[3], max(1, int(argv[4]))
    version = subprocess.run(
        ["openssl", "version"], check=True, capture_output=True, text=True
    ).stdout.split()
    print(f"version {version[1] if len(version) > 1 else 'unknown'} text")

    start_cost = wall(["openssl", "version"], runs)
    print(f"process_start {start_cost * 1e3:.3f} ms")

    speed = subprocess.run(
        ["openssl", "speed", "-seconds", "2", "-mr", "rsa2048"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    private_per_s = None
    for line in speed.splitlines():
        # +F2:<index>:<bits>:<private ops/s>:<public ops/s>
        if line.startswith("+F2:"):
            fields = line.split(":")
            if fields[2] == "2048":
                private_per_s = float(fields[3])
    if not private_per_s:
        raise SystemExit("openssl speed printed no +F2 line for rsa2048")
    print(f"rsa_decrypt_2048 {1e6 / private_per_s:.3f} us")

    keygen = wall(
        [
            "openssl",
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "/dev/null",
        ],
        runs,
    )
    print(f"keygen_2048_process {keygen * 1e3:.3f} ms")
    print(f"keygen_2048 {max(keygen - start_cost, 0.0) * 1e3:.3f} ms")

    smime = wall(
        [
            "openssl",
            "smime",
            "-decrypt",
            "-in",
            token,
            "-inform",
            "SMIME",
            "-inkey",
            key,
            "-recip",
            cert,
        ],
        max(runs, 10),
    )
    key_load = wall(["openssl", "pkey", "-in", key, "-noout"], max(runs, 10))
    print(f"key_load_process {key_load * 1e3:.3f} ms")
    print(f"token_open_apple_process {smime * 1e6:.3f} us")
    print(f"token_open_apple_net_start {max(smime - start_cost, 0.0) * 1e6:.3f} us")
    print(f"token_open_apple {max(smime - key_load, 0.0) * 1e6:.3f} us")


if __name__ == "__main__":
    main(sys.argv)
