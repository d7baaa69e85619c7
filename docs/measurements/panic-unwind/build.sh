#!/bin/bash
# panic=unwind + wasm exception handling experiment build of the engine (separate target dir)
set -x
cd "$(dirname "$0")/../../../crates"
export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CONST_RANDOM_SEED=wasm-qe-toolchain
export RUSTFLAGS="-Cpanic=unwind -Ctarget-feature=+exception-handling"
time /usr/bin/cargo build --locked --manifest-path datafusion-wasm/Cargo.toml --target wasm32-unknown-unknown \
  --profile release --lib --target-dir ${UNWIND_TARGET:-/tmp/unwind/target} \
  -Zbuild-std=std,panic_unwind -Zbuild-std-features=optimize_for_size \
  --config 'profile.release.panic="unwind"'
