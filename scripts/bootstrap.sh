#!/usr/bin/env bash
# Bring this checkout to the point where `make run` / `make test` work:
# python3 (3.11+) with venv, .venv from requirements-dev.txt, Chromium and its
# driver (the browser test), Java 11+ and the DynamoDB Local engine under
# .local/. Missing Debian packages are installed with apt-get when we are root
# (or have passwordless sudo); otherwise we stop and say what to install.
# Idempotent; a no-op run takes well under 2 s.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.requirements.sha256

die() { echo "bootstrap: $*" >&2; exit 1; }

can_apt() {
  command -v apt-get >/dev/null || return 1
  [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null
}

# apt_install "<what is missing>" pkg...  (apt-get update at most once)
apt_install() {
  local what=$1; shift
  can_apt || die "$what is missing; install it, e.g.: sudo apt-get install -y $*"
  local sudo=(); [ "$(id -u)" = 0 ] || sudo=(sudo -n)
  if [ "${COINS_APT_UPDATED:-}" != 1 ]; then
    echo "+ apt-get update" >&2
    "${sudo[@]}" apt-get update -qq
    export COINS_APT_UPDATED=1  # ddb_local.py (run below) reuses this update
  fi
  echo "+ apt-get install $*" >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$@"
}

# --- Python and its venv module ------------------------------------------
if ! command -v "$PYTHON" >/dev/null; then
  apt_install "python3" python3 python3-venv python3-pip
fi
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "Python 3.11+ needed; $PYTHON is $("$PYTHON" -V 2>&1)"

if [ ! -d "$VENV" ]; then
  # Debian splits venv/ensurepip into python3-venv; without it `-m venv` fails.
  if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
    apt_install "python3 venv module" python3-venv python3-pip
  fi
  echo "+ $PYTHON -m venv $VENV" >&2
  "$PYTHON" -m venv "$VENV"
elif ! "$VENV/bin/python" -c '' 2>/dev/null; then
  # Never delete a venv automatically: the cause may be transient or local.
  die "$VENV exists but $VENV/bin/python does not run (interpreter moved?); remove $VENV and rerun"
fi

# --- Python packages: reinstall only when the requirements files change --
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  echo "+ pip install -r requirements-dev.txt" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > "$STAMP"
fi

# --- curl and jq: the README's examples (and the test that runs them) use both
if ! command -v curl >/dev/null || ! command -v jq >/dev/null; then
  apt_install "curl and jq (the README's examples)" curl jq
fi

# --- Node.js: jsii runs the CDK library of infra/ in node (make synth, tests/infra)
if ! command -v node >/dev/null; then
  apt_install "Node.js (for the CDK app in infra/)" nodejs
fi

# --- Chromium and its driver: the browser test of the purchase pages (make test)
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  apt_install "Chromium (for the browser test of the purchase pages)" chromium chromium-driver
fi

# --- Java 11+, npm (first time only) and the engine itself ---------------
# ddb_local.py owns these checks (same apt-get fallback) so `make run`,
# tests and this script share one implementation and one pinned version.
"$VENV/bin/python" scripts/ddb_local.py install >/dev/null
