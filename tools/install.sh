#!/usr/bin/env bash
# Install everything the course needs on a fresh Debian machine: the Python
# packages (nnlib and the course tooling in editable mode), Chromium for the
# browser tests, bubblewrap for the grading sandbox, PostgreSQL's server for the
# gradebook test (as root; elsewhere that test is skipped), and the vendored
# JavaScript that lets the site work offline.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet -r requirements.txt -e .

need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v bwrap >/dev/null || need_apt+=(bubblewrap)
# Debian keeps initdb and pg_ctl in /usr/lib/postgresql/<version>/bin, off PATH.
if [ "$(id -u)" -eq 0 ] && ! command -v initdb >/dev/null \
    && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  need_apt+=(postgresql)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "install.sh: please install ${need_apt[*]} (e.g. sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi

if [ -f site/package.json ]; then
  npm ci --prefix site --no-audit --no-fund --loglevel=error
fi
