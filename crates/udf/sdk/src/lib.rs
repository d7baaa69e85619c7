//! The Rust guest SDK of the WASM UDF ABI 1.0 (`docs/udf-abi.md`).
//!
//! Write plain Rust functions inside [`udf!`]; the macro exports each in the styles it lists
//! (scalar, document, batch) and puts its manifest record in the `wasm-qe-udf` custom section at
//! compile time. This crate exports `wasmqe_abi_version`, `wasmqe_alloc` and `wasmqe_dealloc`
//! once, for every module that uses it.
//!
//! ```ignore
//! wasm_qe_udf::udf! {
//!     /// One more.
//!     #[styles(scalar, document, batch)]
//!     pub fn add_one(x: i64) -> i64 {
//!         x.wrapping_add(1)
//!     }
//! }
//! ```
//!
//! Row errors are values: a function returning `Result<_, E>` reports `Err(e)` as a row error
//! (`e.to_string()`); an argument that cannot be read (a document field of another type, a string
//! that is not UTF-8) is a row error too. Traps are kept for exhausted memory and a host that
//! breaks the ABI.
//!
//! The wasm32-specific code (the `wasmqe_doc` imports, linear memory) is in one module, `sys`;
//! on other targets guest memory and the host are simulated so that `cargo test` runs natively
//! (see [`testing`]).

mod sys;

pub mod batch;
pub mod document;
mod macros;
pub mod manifest;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
mod types;

pub use batch::BatchArg;
pub use document::{DocArg, Document};
pub use types::{
    ArgError, ArgMeta, FieldError, FieldErrorKind, OutValue, Outcome, Ret, ScalarArg, ScalarRet, SqlType, Timestamp,
};

/// The ABI major version `wasmqe_abi_version` returns.
pub const ABI_MAJOR: i32 = 1;

/// `wasmqe_abi_version: () -> i32` **[abi-version]**.
#[unsafe(no_mangle)]
pub extern "C" fn wasmqe_abi_version() -> i32 {
    ABI_MAJOR
}

/// `wasmqe_alloc: (size, align) -> ptr` **[allocator]**: 0 when it cannot allocate (never a trap);
/// `wasmqe_alloc(0, a)` is a non-zero, `a`-aligned pointer.
#[unsafe(no_mangle)]
pub extern "C" fn wasmqe_alloc(size: i32, align: i32) -> i32 {
    sys::alloc(size as u32 as usize, align as u32 as usize) as i32
}

/// `wasmqe_dealloc: (ptr, size, align) -> ()` **[allocator]**, with the size and align of the allocation.
///
/// # Safety
/// `ptr` came from `wasmqe_alloc(size, align)` and is freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wasmqe_dealloc(ptr: i32, size: i32, align: i32) {
    sys::dealloc(ptr as u32, size as u32 as usize, align as u32 as usize)
}
