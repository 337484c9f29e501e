#!/usr/bin/env bash
# Debian packages the test suite needs (headless Chromium for the browser tests, Node for the JS
# client's unit tests, PostgreSQL server binaries for the tests that also run on PostgreSQL, nginx
# for the system test).
# Installs what is missing when run as root; otherwise says what to install.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
# nginx for the system test (tests/system: deploy/nginx.conf in front of three servers).
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "Installing ${missing[*]} (apt-get)..."
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
elif command -v sudo >/dev/null 2>&1; then
  sudo apt-get update -q >/dev/null
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
else
  echo "The test suite needs: ${missing[*]}. Install them (e.g. apt-get install ${missing[*]}) and re-run." >&2
  exit 1
fi
