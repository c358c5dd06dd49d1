#!/usr/bin/env bash
# The SDK's contract with the API, regenerated from the code, never edited by hand:
#   openapi.json      exported from the FastAPI app without a server (api/openapi_export.py)
#   src/schema.d.ts   its TypeScript types (openapi-typescript), composed from
#   src/generated/    one file per API tag and kind (scripts/split_schema.py)
# Usage: scripts/generate.sh           rewrite both files (what `./run sdk` does)
#        scripts/generate.sh --check   regenerate into a temporary folder, fail on any difference
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY="$ROOT/.venv/bin/python"; [[ -x "$PY" ]] || PY=python3
check=0; [[ "${1:-}" == --check ]] && check=1

if [[ ! -x "$HERE/node_modules/.bin/openapi-typescript" ]]; then
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out="$HERE"
if (( check )); then
  out="$work/out"
  mkdir -p "$out/src"
fi
(cd "$ROOT" && "$PY" -m api.openapi_export "$out/openapi.json")
"$HERE/node_modules/.bin/openapi-typescript" "$out/openapi.json" -o "$work/schema.d.ts" \
  --default-non-nullable false --silent
"$PY" "$HERE/scripts/split_schema.py" "$out/openapi.json" "$work/schema.d.ts" "$out/src"

(( check )) || { echo "sdk/typescript: regenerated openapi.json, src/schema.d.ts, src/generated/"; exit 0; }
drift=0
for file in openapi.json src/schema.d.ts src/generated; do
  if ! diff -ru "$HERE/$file" "$out/$file" > "$work/diff" 2>&1; then
    drift=1
    echo "sdk/typescript/$file is out of date with the API:" >&2
    head -n 40 "$work/diff" >&2
  fi
done
if (( drift )); then
  cat >&2 <<'MSG'

The API's routes or schemas changed, so the TypeScript SDK's generated files drifted.
Regenerate and commit them:
    ./run sdk
    git add sdk/typescript/openapi.json sdk/typescript/src/schema.d.ts sdk/typescript/src/generated
MSG
  exit 1
fi
echo "sdk/typescript: generated files match the API"
