#!/usr/bin/env bash
# The package as others get it: packs the tarball (npm pack runs `prepare`, which builds dist/),
# checks what it holds, installs it into an empty project, runs the installed `meterpurse demo`,
# imports every public entry point (check-imports.mjs) and type-checks a consumer against the
# declarations. Any failure stops it with a line starting "check-tarball: FAIL".
#
#   bash test/package/check-tarball.sh          (needs the registry for the dependencies)
#   MP_KEEP=1 bash test/package/check-tarball.sh keeps the temporary project
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/meterpurse-package-XXXXXX")"
if [ -n "${MP_KEEP:-}" ]; then echo "check-tarball: keeping $work"; else trap 'rm -rf "$work"' EXIT; fi
fail() { echo "check-tarball: FAIL $*" >&2; exit 1; }
step() { echo "== check-tarball: $*"; }

step "npm pack (runs prepare: a clean build of dist/)"
(cd "$root" && npm pack --pack-destination "$work" >"$work/pack.log" 2>&1) || { cat "$work/pack.log" >&2; fail "npm pack"; }
shopt -s nullglob
tarballs=("$work"/meterpurse-*.tgz)
[ ${#tarballs[@]} -eq 1 ] || fail "expected one meterpurse-*.tgz in $work, found ${#tarballs[@]}"
tarball="${tarballs[0]}"
tar -tzf "$tarball" | sed 's|^package/||' | sort >"$work/files.txt"
echo "$(basename "$tarball"): $(wc -l <"$work/files.txt") files, $(du -k "$tarball" | cut -f1) kB"

step "contents"
must=(package.json README.md LICENSE CHANGELOG.md bin/meterpurse.js dist/cli/main.js host/service/console/index.html)
for layer in card reader protocol terminal meter host; do must+=("dist/$layer/index.js" "dist/$layer/index.d.ts"); done
for f in "${must[@]}"; do grep -qxF "$f" "$work/files.txt" || fail "the tarball lacks $f"; done
# Every compiled module of every package folder is there: each source .ts has its .js.
(cd "$root" && find card reader protocol terminal meter host cli -name '*.ts' ! -name '*.d.ts' | sed 's/\.ts$/.js/; s|^|dist/|' | sort) >"$work/expected-js.txt"
missing_js="$(comm -23 "$work/expected-js.txt" "$work/files.txt")"
[ -z "$missing_js" ] || fail "compiled modules missing from the tarball: $(echo "$missing_js" | head -5 | tr '\n' ' ')"
# Each console asset the host serves at run time is there (consoleRoot's fallback path).
(cd "$root" && find host/service/console -type f | sort) >"$work/expected-console.txt"
missing_console="$(comm -23 "$work/expected-console.txt" "$work/files.txt")"
[ -z "$missing_console" ] || fail "console assets missing from the tarball: $missing_console"
# Nothing a user does not need; every dist file comes from a source file (no stale output).
unwanted="$(grep -E '^(test|bench|\.ci|apdu-traces|node_modules|tmp)/|^dist/(test|bench)/|\.map$|^tsconfig|^vitest|^eslint|^\.|\.test\.' "$work/files.txt" || true)"
[ -z "$unwanted" ] || fail "the tarball ships files a user does not need: $(echo "$unwanted" | head -5 | tr '\n' ' ')"
stale="$(grep -E '^dist/.*\.js$' "$work/files.txt" | comm -13 "$work/expected-js.txt" - || true)"
[ -z "$stale" ] || fail "dist/ holds modules without a source (stale build): $(echo "$stale" | head -5 | tr '\n' ' ')"
echo "ok: dist of every package folder, bin, console assets, README, LICENSE, CHANGELOG; no tests, benches, CI, configs, maps"

step "npm install <tarball> into an empty project"
app="$work/app"
mkdir "$app"
printf '{ "name": "meterpurse-consumer", "private": true, "type": "module" }\n' >"$app/package.json"
(cd "$app" && npm install --no-audit --no-fund --prefer-offline "$tarball" >"$work/install.log" 2>&1) || { cat "$work/install.log" >&2; fail "npm install $tarball"; }
grep -i 'warn' "$work/install.log" || true
# The package promises Node >= 20: no dependency may ask for more.
if grep -q 'EBADENGINE' "$work/install.log"; then fail "the install warns EBADENGINE (a dependency wants a newer Node than the package promises)"; fi
[ -x "$app/node_modules/.bin/meterpurse" ] || fail "the install made no node_modules/.bin/meterpurse"

step "npx meterpurse demo"
(cd "$app" && npx --no-install meterpurse demo >"$work/demo.log" 2>&1) || { tail -30 "$work/demo.log" >&2; fail "npx meterpurse demo exited with $?"; }
tail -4 "$work/demo.log"
grep -q 'balanced' "$work/demo.log" || fail "the demo did not say the books balanced"

step "import each public entry point"
cp "$root/test/package/check-imports.mjs" "$app/"
(cd "$app" && node check-imports.mjs) || fail "check-imports.mjs"

step "type-check a consumer against the declarations (the repository's TypeScript)"
tsc="$root/node_modules/typescript/bin/tsc"
[ -f "$tsc" ] || fail "no TypeScript at $tsc (npm ci in $root first)"
cat >"$app/consumer.ts" <<'TS'
import { CommandApdu, fromHex } from 'meterpurse/card';
import { VirtualReader, type CardChannel } from 'meterpurse/reader';
import { encodeTxId, txId, type TxId } from 'meterpurse/protocol';
import { MeterModules } from 'meterpurse/terminal';
import { Meter, TariffTable } from 'meterpurse/meter';
import { HostService, buildApi } from 'meterpurse/host';

const apdu: CommandApdu = CommandApdu.decode(fromHex('00A40000023F00'));
const t: TxId = txId(1n);
const bytes: Uint8Array = encodeTxId(t);
export async function send(ch: CardChannel): Promise<number> {
  return (await ch.transmit(apdu)).sw;
}
export const used = [VirtualReader, MeterModules, Meter, TariffTable, HostService, buildApi, bytes];
TS
cat >"$app/tsconfig.json" <<'JSON'
{
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "noEmit": true,
    "skipLibCheck": true,
    "types": []
  },
  "files": ["consumer.ts"]
}
JSON
(cd "$app" && node "$tsc" -p tsconfig.json) || fail "a consumer does not type-check against the package's declarations"
echo "ok: consumer.ts type-checks with moduleResolution NodeNext"

echo "check-tarball: ok ($(basename "$tarball"))"
