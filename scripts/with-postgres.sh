#!/usr/bin/env bash
# A real PostgreSQL for the `postgres` store's tests, thrown away afterwards.
#
#   bash scripts/with-postgres.sh              # the PostgreSQL store's tests only
#   bash scripts/with-postgres.sh CMD ARGS...  # any command, with the server
#
# scripts/test.sh runs every test through this script where PostgreSQL is
# installed, and always under CI=true; scripts/ci/60-bench.sh runs the store
# benches through it.
#
# Installs Debian's PostgreSQL when it is missing, starts a cluster made by
# initdb in a temporary directory, as an unprivileged user, on a free loopback
# port, with password (SCRAM) authentication and TLS (a CA and a server
# certificate made here with openssl), creates a database, exports
#   MDMLINK_TEST_POSTGRES_URL  postgres://mdmlink:PASSWORD@127.0.0.1:PORT/mdmlink_test?sslmode=require&sslrootcert=CA
#   MDMLINK_TEST_POSTGRES_CA   the CA that signed the server's certificate
# runs the command, and stops the cluster and removes its directory even when
# the command fails. A PostgreSQL that cannot be installed or started fails
# the step: it is never skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

bin=$(pg_bin || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "PostgreSQL is not installed: installing it from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  bin=$(pg_bin || true)
fi
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "error: PostgreSQL's initdb was not found under /usr/lib/postgresql/*/bin after installing" >&2
  exit 1
fi
command -v openssl >/dev/null || { apt-get update -qq && apt-get install -y -qq openssl >/dev/null; }

# initdb refuses to run as root: the cluster belongs to an unprivileged user.
run_as=()
if [ "$(id -u)" = 0 ]; then
  user=postgres
  id "$user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
  run_as=(runuser -u "$user" --)
fi

dir=$(mktemp -d /tmp/mdmlink-pg.XXXXXX)
data="$dir/data"
stop() {
  "${run_as[@]}" "$bin/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
trap "exit 130" INT TERM

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
password=$(openssl rand -hex 16)
printf '%s\n' "$password" >"$dir/pwfile"

# TLS: a CA, and a server certificate for localhost and 127.0.0.1 signed by it.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mdmlink test CA" \
  -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
  -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$dir/server.ext"
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
  -days 2 -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null
chmod 0600 "$dir/server.key"
chmod 0644 "$dir/ca.crt"
if [ ${#run_as[@]} -gt 0 ]; then chown -R "$user" "$dir"; fi
chmod 0755 "$dir"

"${run_as[@]}" "$bin/initdb" -D "$data" -U mdmlink --pwfile="$dir/pwfile" -E UTF8 \
  --auth-host=scram-sha-256 --auth-local=trust >"$dir/initdb.log" 2>&1 ||
  { cat "$dir/initdb.log" >&2; exit 1; }
cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
ssl = on
ssl_cert_file = '$dir/server.crt'
ssl_key_file = '$dir/server.key'
max_connections = 200
EOF
"${run_as[@]}" "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
  { cat "$dir/server.log" >&2; exit 1; }
"${run_as[@]}" "$bin/psql" -h "$dir" -p "$port" -U mdmlink -d postgres -v ON_ERROR_STOP=1 -q \
  -c "CREATE DATABASE mdmlink_test"

# Verified TLS, as a production URL would be.
export MDMLINK_TEST_POSTGRES_URL="postgres://mdmlink:$password@127.0.0.1:$port/mdmlink_test?sslmode=require&sslrootcert=$dir/ca.crt"
export MDMLINK_TEST_POSTGRES_CA="$dir/ca.crt"
echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (TLS on, cluster in $dir)"

if [ $# -gt 0 ]; then
  "$@"
else
  cargo test --all-features --lib store::postgres
  cargo test --all-features --test postgres --test postgres_devices
  cargo test -p mdmlink-capi --all-features --test postgres
fi
