#!/bin/bash
set -e
W=${WASM_TOOLCHAIN_CACHE:-$HOME/.cache/wasm-qe-toolchain}/tools/wasm-bindgen-cli-0.2.130/bin/wasm-bindgen
OPT="/usr/bin/node ${WASM_TOOLCHAIN_CACHE:-$HOME/.cache/wasm-qe-toolchain}/tools/binaryen-npm-132.0.0/node_modules/binaryen/bin/wasm-opt"
IN=${UNWIND_TARGET:-/tmp/unwind/target}/wasm32-unknown-unknown/release/datafusion_wasm.wasm
REPO="$(cd "$(dirname "$0")/../../.." && pwd)"
OUT=$REPO/artifacts/unwind-experiment
rm -rf $OUT /tmp/unwind/bg && mkdir -p $OUT /tmp/unwind/bg
ls -l $IN
time $W $IN --out-dir /tmp/unwind/bg --out-name datafusion_wasm --target web --typescript
time $OPT /tmp/unwind/bg/datafusion_wasm_bg.wasm -o /tmp/unwind/opt.wasm -O1 --merge-similar-functions --duplicate-function-elimination --reorder-functions-by-name \
  --enable-bulk-memory --enable-multivalue --enable-mutable-globals --enable-nontrapping-float-to-int --enable-reference-types --enable-sign-ext --enable-exception-handling
$OPT /tmp/unwind/opt.wasm -o $OUT/datafusion_wasm_bg.wasm --strip-debug --strip-producers --enable-bulk-memory --enable-multivalue --enable-mutable-globals --enable-nontrapping-float-to-int --enable-reference-types --enable-sign-ext --enable-exception-handling
cp /tmp/unwind/bg/*.js /tmp/unwind/bg/*.d.ts $OUT/ 2>/dev/null || true
cp $REPO/crates/datafusion-wasm/js/* $OUT/
for f in $IN /tmp/unwind/bg/datafusion_wasm_bg.wasm $OUT/datafusion_wasm_bg.wasm $REPO/artifacts/datafusion-wasm/datafusion_wasm_bg.wasm; do
  python3 -c "
import gzip,sys
d=open('$f','rb').read(); print(f'{len(d):>10} raw {len(gzip.compress(d,9)):>9} gzip  $f')"
done
