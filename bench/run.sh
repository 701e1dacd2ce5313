#!/usr/bin/env bash
# Builds the plugins and runs the benchmark, which prints every figure in the README.
set -euo pipefail
cd "$(dirname "$0")/.."
plugins/build.sh >/dev/null
cargo bench -p jobhost --bench bench -- "$@"
