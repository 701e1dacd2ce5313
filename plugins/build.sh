#!/usr/bin/env bash
# Builds every plugin from source into plugins/dist/*.wasm: the examples and the test
# fixtures, one component per crate, named after the crate. dist/extra/ holds what must
# not sit in a plugins directory with the rest, so that `cp dist/*.wasm DIR/` loads every
# file once: alternative versions (repairable v2) and components the host must refuse
# (needs_vault, which imports an interface jobhost does not offer; batch_unexported, which
# declares a batch size without exporting batch-handler). dist/lang/ holds the
# handlers written in Python and JavaScript, built by build-languages.sh: they embed an
# interpreter and take tens of seconds to compile, so only the tests that use them load them.
set -euo pipefail
plugins=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$plugins")

"$repo/../shared/tools/ensure-wasm-target.sh"

cd "$plugins"
cargo build --release --target wasm32-wasip2
built=target/wasm32-wasip2/release

rm -rf dist
mkdir -p dist/extra
for crate in examples/* fixtures/*; do
  name=$(basename "$crate")
  case "$name" in
    repairable_v1) cp "$built/$name.wasm" dist/repairable.wasm ;;
    repairable_v2) cp "$built/$name.wasm" dist/extra/repairable.wasm ;;
    needs_vault) cp "$built/$name.wasm" dist/extra/needs_vault.wasm ;;
    batch_unexported) cp "$built/$name.wasm" dist/extra/batch_unexported.wasm ;;
    *) cp "$built/$name.wasm" "dist/$name.wasm" ;;
  esac
done

./build-languages.sh

echo "built:"
for file in dist/*.wasm dist/extra/*.wasm dist/lang/*.wasm; do
  printf '%8d  plugins/%s\n' "$(wc -c <"$file")" "$file"
done
