//! The ABI's types and the traits that map Rust types onto them.
//!
//! | Rust argument            | Rust result        | ABI type    |
//! |--------------------------|--------------------|-------------|
//! | `bool`                   | `bool`             | `bool`      |
//! | `i32`, `i64`, `f32`, `f64` | the same         | the same    |
//! | [`Timestamp`]            | [`Timestamp`]      | `timestamp` |
//! | `&str`                   | `String`           | `string`    |
//! | `&[u8]`                  | `Vec<u8>`          | `bytes`     |
//!
//! `Option<T>` makes an argument or the result `nullable`; a result `Result<T, E>` (or
//! `Result<Option<T>, E>`) with `E: Display` makes the function `fallible`: an `Err` is a per-row
//! error, never a trap. A non-nullable argument is strict: a NULL gives a NULL result without a call.

use core::fmt::Display;

/// The ABI's value types, with their batch column type codes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub enum SqlType {
    Bool = 1,
    I32 = 2,
    I64 = 3,
    F32 = 4,
    F64 = 5,
    String = 6,
    Bytes = 7,
    Timestamp = 8,
}

impl SqlType {
    /// The manifest's type name.
    pub const fn name(self) -> &'static str {
        match self {
            SqlType::Bool => "bool",
            SqlType::I32 => "i32",
            SqlType::I64 => "i64",
            SqlType::F32 => "f32",
            SqlType::F64 => "f64",
            SqlType::String => "string",
            SqlType::Bytes => "bytes",
            SqlType::Timestamp => "timestamp",
        }
    }

    /// The batch column type code.
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// Bytes per value of a fixed-width column (0: bool, a bitmap; string and bytes, variable).
    pub const fn width(self) -> usize {
        match self {
            SqlType::I32 | SqlType::F32 => 4,
            SqlType::I64 | SqlType::F64 | SqlType::Timestamp => 8,
            SqlType::Bool | SqlType::String | SqlType::Bytes => 0,
        }
    }
}

/// A `timestamp`: microseconds since the Unix epoch, UTC (Arrow `Timestamp(Microsecond, "UTC")`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const MICROS_PER_DAY: i64 = 86_400_000_000;

    pub const fn from_micros(micros: i64) -> Self {
        Timestamp(micros)
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    /// The UTC calendar day as days since 1970-01-01 (floor division: before the epoch is negative).
    pub const fn days_since_epoch(self) -> i64 {
        self.0.div_euclid(Self::MICROS_PER_DAY)
    }
}

/// Why an argument could not be read (a per-row error, whatever the function's `fallible`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FieldErrorKind {
    /// the document's field has another type
    WrongType,
    /// a `string` value that is not UTF-8
    NotUtf8,
    /// an integer that does not fit an `i32` argument
    OutOfRange,
}

/// An error reading a document field or a batch value: what went wrong and the type wanted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FieldError {
    pub kind: FieldErrorKind,
    pub expected: SqlType,
}

impl FieldError {
    pub(crate) const fn new(kind: FieldErrorKind, expected: SqlType) -> Self {
        FieldError { kind, expected }
    }

    /// The message, as pieces (no formatting machinery): "the field has another type (expected i64)".
    pub fn pieces(&self) -> [&'static str; 3] {
        match self.kind {
            FieldErrorKind::WrongType => ["the field has another type (expected ", self.expected.name(), ")"],
            FieldErrorKind::NotUtf8 => ["the value is not valid UTF-8", "", ""],
            FieldErrorKind::OutOfRange => ["the value is out of range for ", self.expected.name(), ""],
        }
    }
}

impl Display for FieldError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for p in self.pieces() {
            f.write_str(p)?;
        }
        Ok(())
    }
}

impl std::error::Error for FieldError {}

impl From<FieldError> for String {
    fn from(e: FieldError) -> String {
        e.pieces().concat()
    }
}

/// A [`FieldError`] of a named argument: "argument `a`: the value is not valid UTF-8".
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ArgError {
    pub arg: &'static str,
    pub error: FieldError,
}

impl ArgError {
    pub fn pieces(&self) -> [&'static str; 6] {
        let [a, b, c] = self.error.pieces();
        ["argument `", self.arg, "`: ", a, b, c]
    }
}

/// What one call produced, before it is written in a style's layout.
pub enum Outcome<V> {
    Value(V),
    Null,
    /// an argument could not be read
    Arg(ArgError),
    /// the function returned `Err`
    Error(String),
}

/// Manifest facts of an argument type.
pub trait ArgMeta {
    const TYPE: &'static str;
    const NULLABLE: bool;
    /// false for `&Document`, which is not a field
    const LISTED: bool = true;
}

/// A scalar-style argument: its wasm parameter type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an argument of a scalar-style function",
    label = "not a scalar-style argument type",
    note = "the scalar style takes only bool, i32, i64, f32, f64 and Timestamp, never nullable (docs/udf-abi.md section 3); \
            remove `scalar` from #[styles(...)] and keep `document` and/or `batch`"
)]
pub trait ScalarArg {
    type Wasm;
    fn from_wasm(w: Self::Wasm) -> Self;
}

/// A scalar-style result: its wasm result type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the result of a scalar-style function",
    label = "not a scalar-style result type",
    note = "the scalar style returns only bool, i32, i64, f32, f64 or Timestamp: not nullable, not fallible \
            (docs/udf-abi.md section 3); remove `scalar` from #[styles(...)] and keep `document` and/or `batch`"
)]
pub trait ScalarRet {
    type Wasm;
    fn into_wasm(self) -> Self::Wasm;
}

macro_rules! scalar_same {
    ($($t:ty),*) => {$(
        impl ScalarArg for $t {
            type Wasm = $t;
            #[inline(always)]
            fn from_wasm(w: $t) -> $t { w }
        }
        impl ScalarRet for $t {
            type Wasm = $t;
            #[inline(always)]
            fn into_wasm(self) -> $t { self }
        }
    )*};
}
scalar_same!(i32, i64, f32, f64);

impl ScalarArg for bool {
    type Wasm = i32;
    #[inline(always)]
    fn from_wasm(w: i32) -> bool {
        w != 0
    }
}
impl ScalarRet for bool {
    type Wasm = i32;
    #[inline(always)]
    fn into_wasm(self) -> i32 {
        self as i32
    }
}
impl ScalarArg for Timestamp {
    type Wasm = i64;
    #[inline(always)]
    fn from_wasm(w: i64) -> Timestamp {
        Timestamp(w)
    }
}
impl ScalarRet for Timestamp {
    type Wasm = i64;
    #[inline(always)]
    fn into_wasm(self) -> i64 {
        self.0
    }
}

/// A result value type (the `T` of `T`, `Option<T>`, `Result<T, E>`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a UDF result type",
    note = "results are bool, i32, i64, f32, f64, Timestamp, String or Vec<u8>, optionally in Option<_> \
            and/or Result<_, E> with E: Display"
)]
pub trait OutValue: Sized {
    const TYPE: SqlType;
    /// Writes the value into a document-style result cell (16 bytes, 8-aligned).
    /// # Safety
    /// `cell` is a valid, writable result cell.
    unsafe fn write_cell(self, cell: *mut u8);
    /// Appends the value to a batch result column.
    #[doc(hidden)]
    fn push(self, out: &mut crate::batch::ResultColumn) -> bool;
}

/// A function's result type: a value, `Option` of it, `Result` of either.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a UDF result type",
    note = "results are bool, i32, i64, f32, f64, Timestamp, String or Vec<u8>, optionally in Option<_> \
            and/or Result<_, E> with E: Display"
)]
pub trait Ret {
    type Value: OutValue;
    const NULLABLE: bool;
    const FALLIBLE: bool;
    const TYPE: &'static str = <Self::Value as OutValue>::TYPE.name();
    fn outcome(self) -> Outcome<Self::Value>;
}

macro_rules! ret_impls {
    ($($t:ty),*) => {$(
        impl Ret for $t {
            type Value = $t;
            const NULLABLE: bool = false;
            const FALLIBLE: bool = false;
            #[inline(always)]
            fn outcome(self) -> Outcome<$t> { Outcome::Value(self) }
        }
        impl Ret for Option<$t> {
            type Value = $t;
            const NULLABLE: bool = true;
            const FALLIBLE: bool = false;
            #[inline(always)]
            fn outcome(self) -> Outcome<$t> {
                match self { Some(v) => Outcome::Value(v), None => Outcome::Null }
            }
        }
        impl<E: Display> Ret for Result<$t, E> {
            type Value = $t;
            const NULLABLE: bool = false;
            const FALLIBLE: bool = true;
            #[inline(always)]
            fn outcome(self) -> Outcome<$t> {
                match self { Ok(v) => Outcome::Value(v), Err(e) => Outcome::Error(e.to_string()) }
            }
        }
        impl<E: Display> Ret for Result<Option<$t>, E> {
            type Value = $t;
            const NULLABLE: bool = true;
            const FALLIBLE: bool = true;
            #[inline(always)]
            fn outcome(self) -> Outcome<$t> {
                match self {
                    Ok(Some(v)) => Outcome::Value(v),
                    Ok(None) => Outcome::Null,
                    Err(e) => Outcome::Error(e.to_string()),
                }
            }
        }
    )*};
}
ret_impls!(bool, i32, i64, f32, f64, Timestamp, String, Vec<u8>);

macro_rules! arg_meta {
    ($($t:ty => $s:expr),* $(,)?) => {$(
        impl ArgMeta for $t {
            const TYPE: &'static str = $s.name();
            const NULLABLE: bool = false;
        }
        impl ArgMeta for Option<$t> {
            const TYPE: &'static str = $s.name();
            const NULLABLE: bool = true;
        }
    )*};
}
arg_meta!(
    bool => SqlType::Bool,
    i32 => SqlType::I32,
    i64 => SqlType::I64,
    f32 => SqlType::F32,
    f64 => SqlType::F64,
    Timestamp => SqlType::Timestamp,
    &str => SqlType::String,
    &[u8] => SqlType::Bytes,
);
