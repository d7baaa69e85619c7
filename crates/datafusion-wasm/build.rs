//! The linker's stack size for the wasm32 module.
//!
//! Rust's stack on wasm32 lives at the bottom of linear memory (1 MiB by default) with no guard
//! page: an overflow writes below address 0, traps with "memory access out of bounds" and leaves
//! the instance corrupted. DataFusion's planner and optimizer recurse once per level of an
//! expression or a set operation; 8 MiB (the main-thread stack DataFusion gets natively) with the
//! depth limits in src/sql_guard.rs keeps every statement the engine accepts inside it. The cost
//! is 7 MiB more initial memory per instance, none in the module's size.

const WASM_STACK_BYTES: u64 = 8 * 1024 * 1024;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=-zstack-size={WASM_STACK_BYTES}");
    }
}
