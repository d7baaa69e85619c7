//! `udf!`: plain Rust functions, exported in the styles they ask for, with their manifest records.

/// Declares UDFs: each function is kept as written (callable and testable from Rust) and exported
/// in every style listed by `#[styles(...)]`, with its manifest record in the `wasm-qe-udf`
/// custom section.
///
/// ```ignore
/// wasm_qe_udf::udf! {
///     /// Seed 004's scoring function.
///     #[styles(scalar, document, batch)]
///     pub fn custom_score(doc_score: f64, boost: f64, recency_days: i32) -> f64 {
///         doc_score * boost * if recency_days < 7 { 1.5 } else if recency_days < 30 { 1.2 } else { 1.0 }
///     }
///
///     #[styles(document, batch)]
///     #[deterministic(true)] // the default; `false` for functions that are not
///     fn regex_extract(text: &str, pattern: &str, group: i32) -> Result<Option<String>, String> { ... }
/// }
/// ```
///
/// * styles: `scalar` (export `name`), `document` (`name__doc`), `batch` (`name__batch`);
/// * argument types: `bool, i32, i64, f32, f64, Timestamp, &str, &[u8]`, each optionally in
///   `Option<_>` (a `nullable` argument; the others are strict: NULL in, NULL out, no call);
///   `doc: &Document` (document style only) gives the whole document and is not listed in `args`;
/// * result types: `bool, i32, i64, f32, f64, Timestamp, String, Vec<u8>`, optionally in
///   `Option<_>` (`nullable`) and/or `Result<_, E: Display>` (`fallible`: `Err` is a row error).
///
/// For every function `f` the macro also declares a hidden module `f` holding the exports
/// (`f::scalar`, `f::document`, `f::batch`), the manifest record `f::INFO` and its bytes `f::MANIFEST`.
#[macro_export]
macro_rules! udf {
    () => {};
    ($($items:tt)+) => {
        $crate::__udf_item! { @attrs [] [] [true] $($items)+ }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __udf_item {
    (@attrs [$($keep:tt)*] [$($styles:tt)*] [$det:tt] #[styles($($s:ident),* $(,)?)] $($rest:tt)+) => {
        $crate::__udf_item! { @attrs [$($keep)*] [$($s)*] [$det] $($rest)+ }
    };
    (@attrs [$($keep:tt)*] [$($styles:tt)*] [$det:tt] #[deterministic($d:literal)] $($rest:tt)+) => {
        $crate::__udf_item! { @attrs [$($keep)*] [$($styles)*] [$d] $($rest)+ }
    };
    (@attrs [$($keep:tt)*] [$($styles:tt)*] [$det:tt] #[$m:meta] $($rest:tt)+) => {
        $crate::__udf_item! { @attrs [$($keep)* #[$m]] [$($styles)*] [$det] $($rest)+ }
    };
    (@attrs [$($keep:tt)*] [$($styles:ident)*] [$det:tt]
        $vis:vis fn $name:ident ($($arg:ident : $ty:ty),* $(,)?) -> $ret:ty $body:block
        $($rest:tt)*
    ) => {
        $crate::__udf_fn! { [$($keep)*] [$($styles)*] [$det] $vis fn $name ($($arg : $ty),*) -> $ret $body }
        $crate::udf! { $($rest)* }
    };
    (@attrs [$($keep:tt)*] [$($styles:tt)*] [$det:tt] $($rest:tt)*) => {
        ::core::compile_error!(
            "udf!: expected `#[styles(...)]` and `fn name(arg: Type, ...) -> Type { ... }` (every function needs a result type)"
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __udf_fn {
    ([$($keep:tt)*] [] [$det:tt] $vis:vis fn $name:ident $($rest:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "udf!: `", ::core::stringify!($name),
            "` needs #[styles(...)] with at least one of scalar, document, batch"
        ));
    };
    ([$($keep:tt)*] [$($style:ident)+] [$det:tt] $vis:vis fn $name:ident ($($arg:ident : $ty:ty),*) -> $ret:ty $body:block) => {
        $($keep)*
        $vis fn $name($($arg: $ty),*) -> $ret $body

        #[doc(hidden)]
        #[allow(non_snake_case, unused_imports, unused_mut, unused_assignments, clippy::all)]
        pub mod $name {
            use super::*;

            /// The manifest record.
            pub const INFO: $crate::manifest::FnInfo = $crate::manifest::FnInfo {
                name: ::core::stringify!($name),
                args: &[$($crate::manifest::ArgInfo {
                    name: ::core::stringify!($arg),
                    ty: <$ty as $crate::ArgMeta>::TYPE,
                    nullable: <$ty as $crate::ArgMeta>::NULLABLE,
                    listed: <$ty as $crate::ArgMeta>::LISTED,
                }),*],
                returns: <$ret as $crate::Ret>::TYPE,
                returns_nullable: <$ret as $crate::Ret>::NULLABLE,
                fallible: <$ret as $crate::Ret>::FALLIBLE,
                deterministic: $det,
                styles: &[$(::core::stringify!($style)),+],
            };

            const _: () = ::core::assert!(
                $crate::manifest::valid_info(&INFO),
                ::core::concat!(
                    "udf!: `", ::core::stringify!($name), "`: function and argument names must match ",
                    "[a-z_][a-z0-9_]* (at most 64 bytes) and a style may be listed once"
                )
            );

            /// The manifest line, in the module's `wasm-qe-udf` custom section.
            #[used]
            #[cfg_attr(target_arch = "wasm32", unsafe(link_section = "wasm-qe-udf"))]
            pub static MANIFEST: [u8; $crate::manifest::line_len(&INFO)] = $crate::manifest::line(&INFO);

            /// Number of argument columns of a batch: the listed arguments.
            const NUM_ARGS: u32 = {
                let mut n = 0u32;
                let mut i = 0;
                while i < INFO.args.len() {
                    if INFO.args[i].listed {
                        n += 1;
                    }
                    i += 1;
                }
                n
            };

            $crate::__udf_styles! { [$($style)+] $name [$($arg : $ty),*] -> $ret }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __udf_styles {
    ([] $($rest:tt)*) => {};
    ([$first:ident $($more:ident)*] $name:ident $args:tt -> $ret:ty) => {
        $crate::__udf_style! { $first $name $args -> $ret }
        $crate::__udf_styles! { [$($more)*] $name $args -> $ret }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __udf_style {
    (scalar $name:ident [$($arg:ident : $ty:ty),*] -> $ret:ty) => {
        /// The scalar-style export `name`.
        #[unsafe(export_name = ::core::stringify!($name))]
        pub extern "C" fn scalar($($arg: <$ty as $crate::ScalarArg>::Wasm),*) -> <$ret as $crate::ScalarRet>::Wasm {
            <$ret as $crate::ScalarRet>::into_wasm(super::$name($(<$ty as $crate::ScalarArg>::from_wasm($arg)),*))
        }
    };
    (document $name:ident [$($arg:ident : $ty:ty),*] -> $ret:ty) => {
        /// The document-style export `name__doc`.
        #[unsafe(export_name = ::core::concat!(::core::stringify!($name), "__doc"))]
        pub extern "C" fn document(doc: i32, out: i32) -> i32 {
            $crate::document::run::<$ret>(doc, out, |__wasmqe_doc| {
                $(
                    let $arg: $ty = match <$ty as $crate::DocArg>::from_doc(__wasmqe_doc, ::core::stringify!($arg)) {
                        ::core::result::Result::Ok(::core::option::Option::Some(v)) => v,
                        ::core::result::Result::Ok(::core::option::Option::None) => return $crate::Outcome::Null,
                        ::core::result::Result::Err(e) => return $crate::Outcome::Arg(e),
                    };
                )*
                <$ret as $crate::Ret>::outcome(super::$name($($arg),*))
            })
        }
    };
    (batch $name:ident [$($arg:ident : $ty:ty),*] -> $ret:ty) => {
        /// The batch-style export `name__batch`.
        #[unsafe(export_name = ::core::concat!(::core::stringify!($name), "__batch"))]
        pub extern "C" fn batch(desc: i32) -> i32 {
            // SAFETY: the host passes a batch descriptor it allocated in our memory.
            let __wasmqe_batch = match unsafe { $crate::batch::Batch::open(desc, NUM_ARGS) } {
                ::core::result::Result::Ok(b) => b,
                ::core::result::Result::Err(status) => return status,
            };
            let mut __wasmqe_index = 0u32;
            $(
                let $arg = match __wasmqe_batch.column(
                    __wasmqe_index,
                    <$ty as $crate::BatchArg>::SQL,
                    ::core::stringify!($arg),
                ) {
                    ::core::result::Result::Ok(c) => c,
                    ::core::result::Result::Err(status) => return status,
                };
                __wasmqe_index += 1;
            )*
            $crate::batch::run::<$ret>(&__wasmqe_batch, |__wasmqe_row| {
                $(
                    let $arg: $ty = match <$ty as $crate::BatchArg>::get(&$arg, __wasmqe_row) {
                        ::core::result::Result::Ok(::core::option::Option::Some(v)) => v,
                        ::core::result::Result::Ok(::core::option::Option::None) => return $crate::Outcome::Null,
                        ::core::result::Result::Err(e) => return $crate::Outcome::Arg(e),
                    };
                )*
                <$ret as $crate::Ret>::outcome(super::$name($($arg),*))
            })
        }
    };
    ($other:ident $name:ident $($rest:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "udf!: unknown style `", ::core::stringify!($other), "` for `", ::core::stringify!($name),
            "`; the styles are scalar, document and batch"
        ));
    };
}
