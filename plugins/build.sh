#!/usr/bin/env bash
# Builds every plugin from source into plugins/dist/*.wasm: the examples and the test
# fixtures, one component per job-type family. dist/extra/ holds alternative versions
# (repairable v2) that must not sit beside their first version in one plugins directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/../../shared/tools/ensure-wasm-target.sh" 2>/dev/null \
  || "$here/../shared/tools/ensure-wasm-target.sh" 2>/dev/null \
  || rustup target add wasm32-wasip2

cd "$here"
cargo build --release --target wasm32-wasip2 --quiet
out=target/wasm32-wasip2/release
rm -rf dist
mkdir -p dist/extra
for crate in examples/* fixtures/*; do
  name=$(basename "$crate")
  case "$name" in
    repairable_v1) cp "$out/$name.wasm" dist/repairable.wasm ;;
    repairable_v2) cp "$out/$name.wasm" dist/extra/repairable.wasm ;;
    *) cp "$out/$name.wasm" "dist/$name.wasm" ;;
  esac
done
ls -l dist/*.wasm dist/extra/*.wasm | awk '{ printf "%8d  %s\n", $5, $9 }'
