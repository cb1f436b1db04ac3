#!/usr/bin/env bash
# The real MCP servers the tests start (tests/suite/mcp.rs): the reference servers from the
# npm registry, installed exactly as fixtures/mcp-servers/package-lock.json pins and checksums
# them. Quick when they are already installed.
set -euo pipefail
cd "$(dirname "$0")/../fixtures/mcp-servers"
if ! command -v npm >/dev/null; then
    echo "fetch-mcp-servers: npm is needed (apt-get install nodejs npm)" >&2
    exit 1
fi
stamp=node_modules/.lode-installed
if [ -f "$stamp" ] && [ "$stamp" -nt package-lock.json ]; then
    exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
touch "$stamp"
