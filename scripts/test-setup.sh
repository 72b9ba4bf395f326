#!/usr/bin/env bash
# Everything the test suite needs from this machine, installed or started here, once: the tests
# themselves change nothing outside their temporary folders (they fail, naming this script, when
# something is missing). Safe to run again: it only acts on what is missing.
#
#   - the Python test dependencies (pip install -e '.[test]': pytest, moto's S3 server, Playwright...)
#   - Debian's Chromium at /usr/bin/chromium (the dashboard's browser tests; apt-get, as root)
#   - PostgreSQL on 127.0.0.1:5432, user postgres with trust auth, database `test` (started if down)
#   - DVC 3.67.1 in its own virtualenv, ${HIMO_TEST_DVC_VENV:-~/.cache/himo-test/dvc-3.67.1} (the
#     `himo migrate dvc` and import tests build DVC repositories with the real DVC)
#   - not Redis: nothing in the suite uses it (checked below, so this line stays true)
#
# Usage: bash scripts/test-setup.sh && python3 -m pytest -n 2    (the README's test command)
# A quick subset needing none of the servers: python3 -m pytest -m "not slow and not browser and not postgres"
set -uo pipefail
cd "$(dirname "$0")/.."

CHROMIUM=/usr/bin/chromium
PG_URL=postgresql://postgres@127.0.0.1:5432
missing=()

say() { echo "test-setup: $*"; }

# -- Python test dependencies ------------------------------------------------------------------
if ! python3 -m pip install -q -e '.[test]'; then
    missing+=("the Python test dependencies: \`python3 -m pip install -e '.[test]'\` failed (see above)")
fi

# -- Chromium ------------------------------------------------------------------------------------
if [ ! -x "$CHROMIUM" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing Debian's chromium with apt-get"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium </dev/null
    fi
    [ -x "$CHROMIUM" ] || missing+=("$CHROMIUM (the browser tests): \`sudo apt-get install chromium\`")
fi

# -- PostgreSQL ----------------------------------------------------------------------------------
pg_answers() {  # $1: database
    python3 - "$PG_URL/$1" <<'EOF' 2>/dev/null
import sys

import psycopg

psycopg.connect(sys.argv[1], connect_timeout=3).close()
EOF
}

if ! pg_answers postgres; then
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
        for version in $(ls /etc/postgresql); do
            say "starting PostgreSQL $version"
            pg_ctlcluster --skip-systemctl-redirect "$version" main start
        done
        for _ in $(seq 50); do pg_answers postgres && break; sleep 0.2; done
    fi
fi
if ! pg_answers postgres; then
    missing+=("PostgreSQL on 127.0.0.1:5432 (user postgres, trust authentication): install the postgresql package and start it (\`pg_ctlcluster --skip-systemctl-redirect VERSION main start\`)")
elif ! pg_answers test; then
    say "creating the PostgreSQL database test"
    python3 - "$PG_URL/postgres" <<'EOF' || missing+=("the PostgreSQL database test: \`createdb -h 127.0.0.1 -U postgres test\` failed")
import sys

import psycopg

with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    conn.execute("CREATE DATABASE test")
EOF
fi

# -- DVC, in its own virtualenv (its dependencies stay out of himo's environment) ----------------
DVC_VERSION=3.67.1
DVC_VENV="${HIMO_TEST_DVC_VENV:-$HOME/.cache/himo-test/dvc-$DVC_VERSION}"
if [ "$("$DVC_VENV/bin/dvc" --version 2>/dev/null)" != "$DVC_VERSION" ]; then
    rm -rf "$DVC_VENV"  # a half-made or other-version venv: made again
    HIMO_BENCH_DVC_VENV="$DVC_VENV" HIMO_BENCH_DVC_SPEC="dvc==$DVC_VERSION" bash benchmarks/setup_dvc.sh \
        || missing+=("DVC $DVC_VERSION in $DVC_VENV: \`bash benchmarks/setup_dvc.sh\` failed (see above)")
fi

# -- Redis: not needed ---------------------------------------------------------------------------
if grep -rqiw redis tests pyproject.toml; then
    missing+=("Redis: the tests mention it, but this script neither checks nor starts it (add it here)")
fi

if [ ${#missing[@]} -gt 0 ]; then
    echo "test-setup: the test suite cannot run all its tests; missing:" >&2
    printf '  - %s\n' "${missing[@]}" >&2
    exit 1
fi
say "ready (Python test dependencies, $CHROMIUM, PostgreSQL on 127.0.0.1:5432, DVC in $DVC_VENV; no Redis needed)"
