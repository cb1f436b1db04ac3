#!/usr/bin/env bash
# Installs what lode needs to build (cmake, clang/libclang), builds it tuned for this CPU,
# and runs it. Usage: scripts/setup.sh            (native build, fastest on this machine)
#                     LODE_PORTABLE=1 scripts/setup.sh   (runs on any CPU of this architecture)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(uname)" = "Darwin" ]; then
  command -v brew >/dev/null || { echo "setup: install Homebrew first (https://brew.sh)" >&2; exit 1; }
  brew list cmake >/dev/null 2>&1 || brew install cmake
  xcode-select -p >/dev/null 2>&1 || xcode-select --install
elif command -v apt-get >/dev/null; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq cmake clang libclang-dev build-essential git curl tmux >/dev/null
else
  echo "setup: install cmake, clang and libclang with your package manager, then rerun" >&2
fi

# The test suite runs a Python fixture repository's tests under pytest.
if ! python3 -m pytest --version >/dev/null 2>&1; then
  python3 -m pip install -q pytest 2>/dev/null \
    || { [ -n "${sudo+x}" ] && $sudo apt-get install -y -qq python3-pytest >/dev/null; } \
    || echo "setup: install pytest (python3 -m pip install pytest) to run the whole test suite" >&2
fi

if ! command -v cargo >/dev/null; then
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi

# Native target features let llama.cpp use everything this CPU has (AVX-512 where present:
# 1.6x prompt processing and 1.2x generation measured on our machines). The binary then may
# not run on older CPUs.
if [ -z "${LODE_PORTABLE:-}" ]; then
  cpu="native"
  # On Xeons with AMX, -march=native compiles in llama.cpp's AMX kernels, which crashed
  # (SIGSEGV in ggml_backend_amx_mul_mat) on our Sapphire Rapids machines with the pinned
  # llama.cpp. Build for the AVX-512 subset every AMX CPU has instead.
  if grep -qw amx_tile /proc/cpuinfo 2>/dev/null; then
    cpu="icelake-server"
  fi
  export RUSTFLAGS="${RUSTFLAGS:-} -C target-cpu=$cpu"
fi
cargo build --release --locked
echo
echo "built target/release/lode; add it to your PATH, or: cargo install --path . --locked"
./target/release/lode doctor
