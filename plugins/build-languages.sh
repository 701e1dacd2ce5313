#!/usr/bin/env bash
# Builds the handlers written in Python (plugins/python/NAME/app.py, with componentize-py)
# and JavaScript (plugins/js/NAME/app.js, with componentize-js) into plugins/dist/lang/.
# Called by build.sh; can run on its own.
#
# The toolchains are pinned (python/requirements.txt; js/package.json and its
# package-lock.json) and installed into the repo, in python/.venv and js/node_modules,
# the first time and whenever the pins change. A component is rebuilt only when its
# source, the WIT or the toolchain changed: plugins/target/lang keeps the last builds.
# Nothing is cached outside the repository: pip keeps no cache, npm's is plugins/target/npm.
#
# These components embed an interpreter (CPython, SpiderMonkey): 12-18 MB each, and a
# compile of tens of seconds. They live in dist/lang/, not dist/, so that the tests and
# the benchmark that load every dist/*.wasm do not pay for them.
set -euo pipefail
plugins=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$plugins")
cd "$plugins"

need() {
  command -v "$1" >/dev/null || {
    echo "build-languages.sh: $1 not found; $2" >&2
    exit 1
  }
}

# Installs the pinned componentize-py into python/.venv unless it is there already.
python_toolchain() {
  need python3 "install CPython 3.10 or later with its venv module"
  local stamp=python/.venv/installed-requirements.txt
  if ! cmp -s python/requirements.txt "$stamp"; then
    rm -rf python/.venv
    python3 -m venv python/.venv
    python/.venv/bin/pip install --quiet --disable-pip-version-check --no-cache-dir \
      -r python/requirements.txt
    cp python/requirements.txt "$stamp"
  fi
}

# Installs the locked componentize-js into js/node_modules unless it is there already.
js_toolchain() {
  need node "install Node.js 20 or later"
  need npm "install npm (it comes with Node.js)"
  local stamp=js/node_modules/.installed-package-lock.json
  if ! cmp -s js/package-lock.json "$stamp"; then
    (cd js && npm ci --no-audit --no-fund --loglevel=error --cache "$plugins/target/npm")
    cp js/package-lock.json "$stamp"
  fi
}

# fresh OUT INPUT...: whether OUT exists and is newer than every file of every INPUT.
fresh() {
  local out=$1
  shift
  [ -e "$out" ] && [ -z "$(find "$@" -newer "$out" -type f -not -path '*/__pycache__/*' -print -quit)" ]
}

built=target/lang
mkdir -p "$built" dist/lang
wit="$repo/wit"

if compgen -G "python/*/app.py" >/dev/null; then
  python_toolchain
  for app in python/*/app.py; do
    dir=$(dirname "$app")
    name=$(basename "$dir")
    out="$built/$name.wasm"
    if ! fresh "$out" "$dir" "$wit" python/.venv/installed-requirements.txt; then
      python/.venv/bin/componentize-py -d "$wit" -w job-plugin componentize app -p "$dir" -o "$out.tmp" >/dev/null
      mv "$out.tmp" "$out"
    fi
    cp "$out" "dist/lang/$name.wasm"
  done
fi

if compgen -G "js/*/app.js" >/dev/null; then
  js_toolchain
  for app in js/*/app.js; do
    dir=$(dirname "$app")
    name=$(basename "$dir")
    out="$built/$name.wasm"
    if ! fresh "$out" "$dir" "$wit" js/node_modules/.installed-package-lock.json; then
      # No fetch() and no incoming-HTTP handler: these handlers need no network, and a
      # component that imports no wasi:http needs no [capabilities] http grant to mean
      # "no network" (see ../README.md).
      js/node_modules/.bin/componentize-js --wit "$wit" --world-name job-plugin \
        --disable http fetch-event -o "$out.tmp" "$app"
      mv "$out.tmp" "$out"
    fi
    cp "$out" "dist/lang/$name.wasm"
  done
fi
