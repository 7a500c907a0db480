#!/usr/bin/env bash
# Installs what interop/conformance's test needs: the MCP conformance suite
# and the Node.js 22 that runs it (pinned by package-lock.json here), and
# the suite's reference server, copied to DIR (the first argument) from its
# source and installed there from its own lockfile. The test finds the
# server through MCP_CONFORMANCE_SERVER=DIR.
#
# The source is CONFORMANCE_SERVER_DIR, else shared/conformance/server
# beside the repository, else /work/shared/conformance/server. It is not
# part of this repository: the conformance repository it comes from
# (examples/servers/typescript at 0.2.0-alpha.11) is copied there.
set -euo pipefail
dest=${1:?usage: install.sh DIR (where the reference server is installed)}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

npm ci --prefix "$here" --no-audit --no-fund

src=${CONFORMANCE_SERVER_DIR:-}
if [ -z "$src" ]; then
  for d in "$root/../shared/conformance/server" /work/shared/conformance/server; do
    if [ -f "$d/everything-server.ts" ]; then src=$d; break; fi
  done
fi
if [ -z "$src" ] || [ ! -f "$src/everything-server.ts" ]; then
  echo "install.sh: the conformance suite's reference server was not found; set CONFORMANCE_SERVER_DIR to its directory" >&2
  exit 1
fi
rm -rf "$dest"
mkdir -p "$dest"
cp -R "$src"/. "$dest"/
chmod -R u+w "$dest"
npm ci --prefix "$dest" --no-audit --no-fund
