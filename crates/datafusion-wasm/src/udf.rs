//! WebAssembly UDF modules ([docs/udf-abi.md](../../../docs/udf-abi.md)) as DataFusion scalar
//! functions: `WasmQueryEngine.register_udf(name, wasm_bytes)`.
//!
//! A module runs in its own WebAssembly instance, with its own memory, never in the engine's: the
//! browser compiles it (`new WebAssembly.Module`) and instantiates it (`new WebAssembly.Instance`)
//! through js-sys, and the engine reaches it only through its exports. Every manifest function
//! with the `batch` style becomes a `ScalarUDF`; a call copies each argument's Arrow buffers into
//! the instance's memory in the ABI's batch layout (one copy per buffer, engine memory to guest
//! memory, by `Uint8Array.prototype.set`), calls `<name>__batch` once per batch of at most
//! [`CHUNK_ROWS`] rows, and copies the result's buffers back (one copy each, into 64-byte-aligned
//! Arrow buffers that become the result array without another copy).
//!
//! Everything that touches JavaScript is in [`browser`] (wasm32 only). The manifest, the types,
//! the argument coercion and the batch layout are plain Rust over the [`Guest`] trait, so they
//! are unit-tested natively against a guest written in Rust (the tests at the end).
//!
//! What a failure does:
//! - a row's error (the ABI's errors column) fails the statement with the function's name and
//!   the row's message; the instance lives on;
//! - a trap (or any exception the guest throws) fails the statement, and the instance is
//!   discarded: the next call instantiates the compiled module again. The engine and its tables
//!   are untouched (the guest's exception is caught by js-sys and reaches Rust as an `Err`);
//! - a guest that breaks the ABI (a bad status, a buffer outside its memory, a result of the
//!   wrong type or invalid UTF-8) fails the statement and its instance is discarded too.
//!
//! An endless loop in a guest cannot be interrupted on the main thread (docs/engine.md).

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use arrow::array::{
    new_empty_array, Array, ArrayRef, BinaryArray, BooleanArray, Float32Array, Float64Array, GenericByteArray,
    Int32Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::buffer::{BooleanBuffer, Buffer, MutableBuffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::compute::{cast, concat};
use arrow::datatypes::{ByteArrayType, DataType, TimeUnit};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use datafusion::prelude::SessionContext;
use qe_tracing::info;

/// The custom section that holds the manifest (JSON Lines).
pub const MANIFEST_SECTION: &str = "wasm-qe-udf";
/// The import module whose functions (the document API) are stubbed: batch calls never use them.
pub const DOC_IMPORT_MODULE: &str = "wasmqe_doc";
pub const ABI_MAJOR: i32 = 1;
pub const EXPORT_ALLOC: &str = "wasmqe_alloc";
pub const EXPORT_DEALLOC: &str = "wasmqe_dealloc";
pub const EXPORT_ABI_VERSION: &str = "wasmqe_abi_version";
/// Rows per `__batch` call at most: DataFusion's batch size. A registered table keeps its batches
/// as they came (one batch of a million rows, say), and the guest's memory is small (256 MiB by
/// default), so a larger batch is cut into calls of this many rows.
pub const CHUNK_ROWS: usize = 8192;

const HEADER_SIZE: usize = 16;
const COLUMN_SIZE: usize = 24;
const ERRORS_SIZE: usize = 24;
const BUFFER_ALIGN: u32 = 8;

fn descriptor_size(num_args: usize) -> usize {
    HEADER_SIZE + COLUMN_SIZE * (num_args + 1) + ERRORS_SIZE
}

fn align8(n: usize) -> usize {
    (n + 7) & !7
}

fn bitmap_len(rows: usize) -> usize {
    rows.div_ceil(8)
}

fn bit(bitmap: &[u8], i: usize) -> bool {
    bitmap.get(i / 8).is_some_and(|byte| byte >> (i % 8) & 1 == 1)
}

// ------------------------------------------------------------------------------------------
// Types and the manifest

/// The ABI's value types (section 2) and their Arrow types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UdfType {
    Bool,
    I32,
    I64,
    F32,
    F64,
    String,
    Bytes,
    Timestamp,
}

impl UdfType {
    pub fn parse(name: &str) -> Option<UdfType> {
        Some(match name {
            "bool" => UdfType::Bool,
            "i32" => UdfType::I32,
            "i64" => UdfType::I64,
            "f32" => UdfType::F32,
            "f64" => UdfType::F64,
            "string" => UdfType::String,
            "bytes" => UdfType::Bytes,
            "timestamp" => UdfType::Timestamp,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            UdfType::Bool => "bool",
            UdfType::I32 => "i32",
            UdfType::I64 => "i64",
            UdfType::F32 => "f32",
            UdfType::F64 => "f64",
            UdfType::String => "string",
            UdfType::Bytes => "bytes",
            UdfType::Timestamp => "timestamp",
        }
    }

    /// The column type tag of the batch layout.
    pub fn tag(self) -> u32 {
        match self {
            UdfType::Bool => 1,
            UdfType::I32 => 2,
            UdfType::I64 => 3,
            UdfType::F32 => 4,
            UdfType::F64 => 5,
            UdfType::String => 6,
            UdfType::Bytes => 7,
            UdfType::Timestamp => 8,
        }
    }

    pub fn arrow(self) -> DataType {
        match self {
            UdfType::Bool => DataType::Boolean,
            UdfType::I32 => DataType::Int32,
            UdfType::I64 => DataType::Int64,
            UdfType::F32 => DataType::Float32,
            UdfType::F64 => DataType::Float64,
            UdfType::String => DataType::Utf8,
            UdfType::Bytes => DataType::Binary,
            UdfType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        }
    }

    /// Bytes per value of a fixed-width type (None: bool is bit-packed, string/bytes have offsets).
    fn width(self) -> Option<usize> {
        match self {
            UdfType::I32 | UdfType::F32 => Some(4),
            UdfType::I64 | UdfType::F64 | UdfType::Timestamp => Some(8),
            UdfType::Bool | UdfType::String | UdfType::Bytes => None,
        }
    }

    fn is_variable(self) -> bool {
        matches!(self, UdfType::String | UdfType::Bytes)
    }

    /// The type an argument of SQL type `from` is cast to before the call, or None when this
    /// argument does not take that type. Strings of every kind (Utf8View, LargeUtf8, dictionary)
    /// become Utf8; integers of any width the declared integer (a literal `1` is Int64; a value
    /// out of range fails the cast); timestamps of any unit and zone, dates and timestamp strings
    /// become Timestamp(µs, "UTC").
    pub fn coerce_from(self, from: &DataType) -> Option<DataType> {
        use DataType::*;
        let target = self.arrow();
        if from == &target || from == &Null {
            return Some(target);
        }
        if let Dictionary(_, value) = from {
            return self.coerce_from(value).map(|_| target);
        }
        let integer = from.is_integer();
        let accepted = match self {
            UdfType::Bool => false,
            UdfType::I32 | UdfType::I64 => integer,
            UdfType::F32 | UdfType::F64 => {
                integer || from.is_floating() || matches!(from, Decimal128(..) | Decimal256(..))
            }
            UdfType::String => matches!(from, Utf8 | LargeUtf8 | Utf8View),
            UdfType::Bytes => {
                matches!(from, Binary | LargeBinary | BinaryView | FixedSizeBinary(_) | Utf8 | LargeUtf8 | Utf8View)
            }
            UdfType::Timestamp => matches!(from, Timestamp(..) | Date32 | Date64 | Utf8 | LargeUtf8 | Utf8View),
        };
        accepted.then_some(target)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ArgSpec {
    pub name: String,
    pub ty: UdfType,
    pub nullable: bool,
}

/// One manifest record (docs/udf-abi.md section 2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FunctionSpec {
    pub name: String,
    pub args: Vec<ArgSpec>,
    pub returns: UdfType,
    pub returns_nullable: bool,
    pub fallible: bool,
    pub deterministic: bool,
    pub styles: Vec<String>,
}

impl FunctionSpec {
    pub fn has_batch(&self) -> bool {
        self.styles.iter().any(|s| s == "batch")
    }

    pub fn batch_export(&self) -> String {
        format!("{}__batch", self.name)
    }

    /// `levenshtein(a string, b string) -> i64`
    pub fn signature_text(&self) -> String {
        let args: Vec<String> = self.args.iter().map(|a| format!("{} {}", a.name, a.ty.name())).collect();
        format!("{}({}) -> {}", self.name, args.join(", "), self.returns.name())
    }
}

/// A parsed JSON value: the manifest is small and flat, so a small parser does (no serde_json in
/// the module for it).
#[derive(Clone, Debug, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Num(_) => "a number",
            Json::Str(_) => "a string",
            Json::Arr(_) => "an array",
            Json::Obj(_) => "an object",
        }
    }
}

struct JsonParser<'a> {
    text: &'a [u8],
    at: usize,
}

const JSON_MAX_DEPTH: usize = 16;

impl JsonParser<'_> {
    fn parse(text: &str) -> Result<Json, String> {
        let mut parser = JsonParser { text: text.as_bytes(), at: 0 };
        let value = parser.value(0)?;
        parser.space();
        if parser.at != parser.text.len() {
            return Err(parser.error("unexpected text after the value"));
        }
        Ok(value)
    }

    fn error(&self, what: &str) -> String {
        format!("invalid JSON at byte {}: {what}", self.at)
    }

    fn space(&mut self) {
        while self.text.get(self.at).is_some_and(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.space();
        if self.text.get(self.at) == Some(&c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, String> {
        if self.text[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.error("unexpected character"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > JSON_MAX_DEPTH {
            return Err(self.error("nested too deep for a manifest record"));
        }
        self.space();
        match self.text.get(self.at) {
            None => Err(self.error("unexpected end")),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'"') => self.string().map(Json::Str),
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                if self.eat(b']') {
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    if self.eat(b']') {
                        return Ok(Json::Arr(items));
                    }
                    if !self.eat(b',') {
                        return Err(self.error("expected ',' or ']'"));
                    }
                }
            }
            Some(b'{') => {
                self.at += 1;
                let mut members = Vec::new();
                if self.eat(b'}') {
                    return Ok(Json::Obj(members));
                }
                loop {
                    self.space();
                    if self.text.get(self.at) != Some(&b'"') {
                        return Err(self.error("expected a key"));
                    }
                    let key = self.string()?;
                    if !self.eat(b':') {
                        return Err(self.error("expected ':'"));
                    }
                    members.push((key, self.value(depth + 1)?));
                    if self.eat(b'}') {
                        return Ok(Json::Obj(members));
                    }
                    if !self.eat(b',') {
                        return Err(self.error("expected ',' or '}'"));
                    }
                }
            }
            Some(c) if *c == b'-' || c.is_ascii_digit() => {
                let start = self.at;
                while self
                    .text
                    .get(self.at)
                    .is_some_and(|c| matches!(c, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                {
                    self.at += 1;
                }
                std::str::from_utf8(&self.text[start..self.at])
                    .ok()
                    .and_then(|s| s.parse::<f64>().ok())
                    .map(Json::Num)
                    .ok_or_else(|| self.error("invalid number"))
            }
            Some(_) => Err(self.error("unexpected character")),
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self.text.get(self.at..self.at + 4).ok_or_else(|| self.error("short \\u escape"))?;
        let value = std::str::from_utf8(digits)
            .ok()
            .and_then(|s| u32::from_str_radix(s, 16).ok())
            .ok_or_else(|| self.error("invalid \\u escape"))?;
        self.at += 4;
        Ok(value)
    }

    fn string(&mut self) -> Result<String, String> {
        self.at += 1; // the opening quote
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&c) = self.text.get(self.at) else {
                return Err(self.error("unterminated string"));
            };
            self.at += 1;
            match c {
                b'"' => return String::from_utf8(out).map_err(|_| self.error("invalid UTF-8 in a string")),
                b'\\' => {
                    let Some(&escape) = self.text.get(self.at) else {
                        return Err(self.error("unterminated escape"));
                    };
                    self.at += 1;
                    let decoded = match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let mut code = self.hex4()?;
                            if (0xD800..0xDC00).contains(&code) && self.text[self.at..].starts_with(b"\\u") {
                                self.at += 2;
                                let low = self.hex4()?;
                                code = 0x10000 + ((code - 0xD800) << 10) + (low.wrapping_sub(0xDC00) & 0x3FF);
                            }
                            char::from_u32(code).ok_or_else(|| self.error("invalid \\u escape"))?
                        }
                        _ => return Err(self.error("invalid escape")),
                    };
                    let mut buffer = [0u8; 4];
                    out.extend_from_slice(decoded.encode_utf8(&mut buffer).as_bytes());
                }
                c if c < 0x20 => return Err(self.error("control character in a string")),
                c => out.push(c),
            }
        }
    }
}

fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && (bytes[0].is_ascii_lowercase() || bytes[0] == b'_')
        && bytes.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

const RECORD_KEYS: [&str; 7] = ["abi", "name", "args", "returns", "fallible", "deterministic", "styles"];

fn member<'a>(members: &'a [(String, Json)], key: &str) -> Option<&'a Json> {
    members.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// `{"type": ..., "nullable": ...}`, with a `name` for arguments.
fn value_spec(json: &Json, where_: &str, named: bool) -> Result<(String, UdfType, bool), String> {
    let Json::Obj(members) = json else {
        return Err(format!("{where_} is {}, not an object", json.kind()));
    };
    let allowed: &[&str] = if named { &["name", "type", "nullable"] } else { &["type", "nullable"] };
    if let Some((unknown, _)) = members.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        return Err(format!("{where_} has an unknown key '{unknown}'"));
    }
    let name = if named {
        match member(members, "name") {
            Some(Json::Str(name)) if valid_name(name) => name.clone(),
            Some(Json::Str(name)) => return Err(format!("{where_}: '{name}' is not a valid name ([a-z_][a-z0-9_]*)")),
            _ => return Err(format!("{where_} has no string 'name'")),
        }
    } else {
        String::new()
    };
    let ty = match member(members, "type") {
        Some(Json::Str(t)) => UdfType::parse(t).ok_or_else(|| {
            format!(
                "{where_}: unknown type '{t}' (the ABI's types: bool, i32, i64, f32, f64, string, bytes, timestamp)"
            )
        })?,
        _ => return Err(format!("{where_} has no string 'type'")),
    };
    let nullable = match member(members, "nullable") {
        None => false,
        Some(Json::Bool(b)) => *b,
        Some(other) => return Err(format!("{where_}: 'nullable' is {}, not a boolean", other.kind())),
    };
    Ok((name, ty, nullable))
}

fn parse_record(line: &str, line_no: usize) -> Result<FunctionSpec, String> {
    let where_ = format!("manifest line {line_no}");
    let json = JsonParser::parse(line).map_err(|e| format!("{where_}: {e}"))?;
    let Json::Obj(members) = &json else {
        return Err(format!("{where_} is {}, not an object", json.kind()));
    };
    if let Some((unknown, _)) = members.iter().find(|(k, _)| !RECORD_KEYS.contains(&k.as_str())) {
        return Err(format!("{where_} has an unknown key '{unknown}'"));
    }
    if let Some(missing) = RECORD_KEYS.iter().find(|k| member(members, k).is_none()) {
        return Err(format!("{where_} has no '{missing}'"));
    }
    let text = |key: &str| match member(members, key) {
        Some(Json::Str(s)) => Ok(s.clone()),
        _ => Err(format!("{where_}: '{key}' is not a string")),
    };
    let flag = |key: &str| match member(members, key) {
        Some(Json::Bool(b)) => Ok(*b),
        _ => Err(format!("{where_}: '{key}' is not a boolean")),
    };
    let abi = text("abi")?;
    let known = abi.split_once('.').is_some_and(|(major, minor)| major == "1" && minor == "0");
    if !known {
        return Err(format!("{where_}: ABI '{abi}' is not one this engine speaks (1.0)"));
    }
    let name = text("name")?;
    if !valid_name(&name) {
        return Err(format!("{where_}: '{name}' is not a valid function name ([a-z_][a-z0-9_]*, at most 64 bytes)"));
    }
    let where_ = format!("{where_} ({name})");
    let Some(Json::Arr(raw_args)) = member(members, "args") else {
        return Err(format!("{where_}: 'args' is not an array"));
    };
    let mut args = Vec::new();
    for (i, raw) in raw_args.iter().enumerate() {
        let (arg_name, ty, nullable) = value_spec(raw, &format!("{where_}: argument {}", i + 1), true)?;
        if args.iter().any(|a: &ArgSpec| a.name == arg_name) {
            return Err(format!("{where_}: two arguments are named '{arg_name}'"));
        }
        args.push(ArgSpec { name: arg_name, ty, nullable });
    }
    let (_, returns, returns_nullable) =
        value_spec(member(members, "returns").unwrap_or(&Json::Null), &format!("{where_}: 'returns'"), false)?;
    let Some(Json::Arr(raw_styles)) = member(members, "styles") else {
        return Err(format!("{where_}: 'styles' is not an array"));
    };
    let mut styles = Vec::new();
    for style in raw_styles {
        match style {
            Json::Str(s) if matches!(s.as_str(), "scalar" | "document" | "batch") => styles.push(s.clone()),
            other => return Err(format!("{where_}: unknown style {other:?} (scalar, document, batch)")),
        }
    }
    Ok(FunctionSpec {
        name,
        args,
        returns,
        returns_nullable,
        fallible: flag("fallible")?,
        deterministic: flag("deterministic")?,
        styles,
    })
}

/// Parses the manifest section's text (JSON Lines; blank lines ignored).
pub fn parse_manifest(text: &str) -> Result<Vec<FunctionSpec>, String> {
    let mut specs: Vec<FunctionSpec> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let spec = parse_record(line, i + 1)?;
        if specs.iter().any(|s| s.name == spec.name) {
            return Err(format!("the manifest lists the function '{}' twice", spec.name));
        }
        specs.push(spec);
    }
    if specs.is_empty() {
        return Err(format!("the '{MANIFEST_SECTION}' manifest section lists no function"));
    }
    Ok(specs)
}

// ------------------------------------------------------------------------------------------
// The guest and the batch layout

/// One instance of a UDF module, as the batch calls see it. Errors are messages.
pub trait Guest {
    /// Calls an export with i32 arguments (passed as u32 bits). `Err`: it trapped or threw.
    fn call(&mut self, export: &str, args: &[u32]) -> Result<i32, String>;
    /// Copies `data` into guest memory at `ptr` (an error if the range is outside it).
    fn write(&mut self, ptr: u32, data: &[u8]) -> Result<(), String>;
    /// Copies guest memory at `ptr` into `dest` (an error if the range is outside it).
    fn read(&mut self, ptr: u32, dest: &mut [u8]) -> Result<(), String>;
}

/// Why a batch failed.
#[derive(Debug, PartialEq)]
pub enum BatchError {
    /// The guest trapped or threw: its instance must be discarded.
    Trap(String),
    /// The guest broke the ABI (or could not allocate): its instance is discarded too.
    Abi(String),
    /// Rows failed (the errors column): the message names the first.
    Rows(String),
}

/// An argument column's buffers as the layout wants them: offsets from 0, bitmaps from bit 0.
struct ColumnParts {
    validity: Option<Buffer>,
    offsets: Option<Buffer>,
    values: Buffer,
}

fn byte_parts<T: ByteArrayType<Offset = i32>>(array: &GenericByteArray<T>) -> Result<(Buffer, Buffer), String> {
    let offsets = array.value_offsets();
    let (first, last) = match (offsets.first(), offsets.last()) {
        (Some(f), Some(l)) if *f >= 0 && l >= f => (*f as usize, *l as usize),
        _ => return Err("an argument's offsets are invalid".into()),
    };
    if last > array.values().len() {
        return Err("an argument's offsets point past its data".into());
    }
    let offsets = if first == 0 {
        array.offsets().inner().inner().clone()
    } else {
        // A slice of a larger array: rebased (one copy of the offsets, not of the data).
        Buffer::from_vec(offsets.iter().map(|o| o - first as i32).collect::<Vec<i32>>())
    };
    Ok((offsets, array.values().slice_with_length(first, last - first)))
}

fn column_parts(array: &ArrayRef, ty: UdfType) -> Result<ColumnParts, String> {
    let rows = array.len();
    let validity = array.nulls().filter(|n| n.null_count() > 0).map(|n| n.inner().sliced());
    let wrong = || format!("internal: an argument of type {} reached the {} layout", array.data_type(), ty.name());
    let (offsets, values) = match ty {
        UdfType::String => {
            let (o, v) = byte_parts(array.as_any().downcast_ref::<StringArray>().ok_or_else(wrong)?)?;
            (Some(o), v)
        }
        UdfType::Bytes => {
            let (o, v) = byte_parts(array.as_any().downcast_ref::<BinaryArray>().ok_or_else(wrong)?)?;
            (Some(o), v)
        }
        UdfType::Bool => (None, array.as_any().downcast_ref::<BooleanArray>().ok_or_else(wrong)?.values().sliced()),
        _ => {
            let width = ty.width().unwrap_or(8);
            let data = array.to_data();
            let buffer = data.buffers().first().ok_or_else(wrong)?;
            let start = data.offset() * width;
            if start + rows * width > buffer.len() {
                return Err(wrong());
            }
            (None, buffer.slice_with_length(start, rows * width))
        }
    };
    Ok(ColumnParts { validity, offsets, values })
}

/// Bytes of a buffer, at most `len`, checked (Arrow's invariants make it always so).
fn prefix(buffer: &Buffer, len: usize) -> Result<&[u8], String> {
    buffer.as_slice().get(..len).ok_or_else(|| "internal: an argument buffer is shorter than its layout".into())
}

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    bytes.get(at..at + 4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads `len` bytes of guest memory into a 64-byte-aligned Arrow buffer (the one copy out).
fn read_buffer<G: Guest + ?Sized>(guest: &mut G, ptr: u32, len: usize, what: &str) -> Result<Buffer, BatchError> {
    let mut buffer = MutableBuffer::from_len_zeroed(len);
    if len > 0 {
        if ptr == 0 {
            return Err(BatchError::Abi(format!("the {what} pointer is 0 for {len} bytes")));
        }
        guest.read(ptr, buffer.as_slice_mut()).map_err(|e| BatchError::Abi(format!("the {what}: {e}")))?;
    }
    Ok(buffer.into())
}

fn checked_offsets(buffer: &Buffer, rows: usize, data_len: usize, what: &str) -> Result<Vec<usize>, BatchError> {
    let mut out = Vec::with_capacity(rows + 1);
    let mut previous = 0i64;
    for i in 0..=rows {
        let offset = le_u32(buffer.as_slice(), 4 * i) as i32 as i64;
        if offset < previous || offset as usize > data_len {
            return Err(BatchError::Abi(format!(
                "the {what} offsets are not monotonic from 0 up to at most {data_len} (row {i}: {offset})"
            )));
        }
        previous = offset;
        out.push(offset as usize);
    }
    Ok(out)
}

/// One `<name>__batch` call over `columns` (already of the manifest's Arrow types, equal lengths,
/// at most u32 rows): the result column, or why not.
pub fn call_batch<G: Guest + ?Sized>(
    guest: &mut G,
    spec: &FunctionSpec,
    columns: &[ArrayRef],
) -> Result<ArrayRef, BatchError> {
    let rows = columns.first().map_or(0, |c| c.len());
    let num_args = spec.args.len();
    if columns.len() != num_args || columns.iter().any(|c| c.len() != rows) {
        return Err(BatchError::Abi(format!("internal: {} columns for {} arguments", columns.len(), num_args)));
    }
    let abi = BatchError::Abi;
    let trap = BatchError::Trap;

    // Lay out the descriptor and every argument buffer in one region (one allocation).
    let descriptor_len = descriptor_size(num_args);
    let mut region_len = align8(descriptor_len);
    let mut parts: Vec<(usize, Buffer, usize)> = Vec::new(); // (offset in the region, buffer, bytes)
    let mut fields: Vec<[usize; 5]> = Vec::new(); // tag, validity, offsets, values (region offsets, or none), values_len
    const NONE: usize = usize::MAX;
    for (column, arg) in columns.iter().zip(&spec.args) {
        let column_parts = column_parts(column, arg.ty).map_err(abi)?;
        let mut place = |buffer: Buffer, len: usize| {
            let at = region_len;
            region_len = align8(region_len + len);
            parts.push((at, buffer, len));
            at
        };
        let validity = column_parts.validity.map_or(NONE, |b| place(b, bitmap_len(rows)));
        let offsets = column_parts.offsets.map_or(NONE, |b| place(b, 4 * (rows + 1)));
        let values_len = match arg.ty.width() {
            Some(width) => rows * width,
            None if arg.ty == UdfType::Bool => bitmap_len(rows),
            None => column_parts.values.len(),
        };
        let values = place(column_parts.values, values_len);
        fields.push([arg.ty.tag() as usize, validity, offsets, values, values_len]);
    }
    if region_len > i32::MAX as usize {
        return Err(abi(format!("the batch needs {region_len} bytes of guest memory, more than wasm32 addresses")));
    }
    let base = guest.call(EXPORT_ALLOC, &[region_len as u32, BUFFER_ALIGN]).map_err(trap)? as u32;
    if base == 0 {
        return Err(abi(format!(
            "the guest could not allocate {region_len} bytes for the batch's arguments (its memory limit)"
        )));
    }
    let absolute = |offset: usize| if offset == NONE { 0 } else { base + offset as u32 };
    let mut descriptor = vec![0u8; descriptor_len];
    let mut put = |at: usize, value: u32| descriptor[at..at + 4].copy_from_slice(&value.to_le_bytes());
    put(0, ABI_MAJOR as u32);
    put(4, rows as u32);
    put(8, num_args as u32);
    for (i, [tag, validity, offsets, values, values_len]) in fields.iter().enumerate() {
        let at = HEADER_SIZE + COLUMN_SIZE * i;
        put(at, *tag as u32);
        put(at + 4, absolute(*validity));
        put(at + 8, absolute(*offsets));
        put(at + 12, absolute(*values));
        put(at + 16, *values_len as u32);
    }
    let mut run = || -> Result<ArrayRef, BatchError> {
        guest.write(base, &descriptor).map_err(abi)?;
        for (at, buffer, len) in &parts {
            guest.write(base + *at as u32, prefix(buffer, *len).map_err(abi)?).map_err(abi)?;
        }
        let status = guest.call(&spec.batch_export(), &[base]).map_err(trap)?;
        match status {
            0 => {}
            1 => return Err(abi(format!("{}__batch refused the batch descriptor (status 1)", spec.name))),
            2 => return Err(abi(format!("{}__batch could not allocate its output (status 2)", spec.name))),
            other => {
                return Err(abi(format!("{}__batch returned status {other}, which the ABI does not define", spec.name)))
            }
        }
        let result_at = HEADER_SIZE + COLUMN_SIZE * num_args;
        let mut tail = [0u8; COLUMN_SIZE + ERRORS_SIZE];
        guest.read(base + result_at as u32, &mut tail).map_err(abi)?;
        let (tag, validity, offsets, values, values_len) =
            (le_u32(&tail, 0), le_u32(&tail, 4), le_u32(&tail, 8), le_u32(&tail, 12), le_u32(&tail, 16) as usize);
        let (error_count, error_rows, error_offsets, messages, messages_len) =
            (le_u32(&tail, 24), le_u32(&tail, 28), le_u32(&tail, 32), le_u32(&tail, 36), le_u32(&tail, 40) as usize);
        // Everything the guest allocated is read, then freed, whatever happens next.
        let mut owned = vec![(validity, bitmap_len(rows)), (values, values_len)];
        if spec.returns.is_variable() {
            owned.push((offsets, 4 * (rows + 1)));
        }
        if error_count > 0 {
            owned.extend([(error_rows, bitmap_len(rows)), (error_offsets, 4 * (rows + 1)), (messages, messages_len)]);
        }
        let read = (|| {
            if error_count > 0 {
                let bitmap = read_buffer(guest, error_rows, bitmap_len(rows), "errors bitmap")?;
                let offsets = read_buffer(guest, error_offsets, 4 * (rows + 1), "errors offsets")?;
                let text = read_buffer(guest, messages, messages_len, "error messages")?;
                let bounds = checked_offsets(&offsets, rows, messages_len, "errors")?;
                let failed: Vec<usize> = (0..rows).filter(|&i| bit(bitmap.as_slice(), i)).collect();
                let Some(&first) = failed.first() else {
                    return Err(abi(format!("the errors column counts {error_count} errors but marks no row")));
                };
                let message = String::from_utf8_lossy(&text.as_slice()[bounds[first]..bounds[first + 1]]);
                let more = match failed.len() {
                    1 => String::new(),
                    n => format!(" ({} more of the batch's {rows} rows failed)", n - 1),
                };
                return Err(BatchError::Rows(format!(
                    "{}: row {} of the batch failed: {message}{more}",
                    spec.name,
                    first + 1
                )));
            }
            if tag != spec.returns.tag() {
                return Err(abi(format!(
                    "the result column has type tag {tag}; the manifest says {} ({})",
                    spec.returns.name(),
                    spec.returns.tag()
                )));
            }
            let nulls = if validity == 0 {
                None
            } else {
                let bitmap = read_buffer(guest, validity, bitmap_len(rows), "result validity")?;
                Some(NullBuffer::new(BooleanBuffer::new(bitmap, 0, rows)))
            };
            build_result(guest, spec.returns, rows, nulls, offsets, values, values_len)
        })();
        let mut freed: Result<(), BatchError> = Ok(());
        if !matches!(read, Err(BatchError::Trap(_))) {
            for (ptr, size) in owned {
                if ptr != 0 && freed.is_ok() {
                    freed = guest.call(EXPORT_DEALLOC, &[ptr, size as u32, BUFFER_ALIGN]).map(|_| ()).map_err(trap);
                }
            }
        }
        freed?;
        read
    };
    let result = run();
    if !matches!(result, Err(BatchError::Trap(_))) {
        guest.call(EXPORT_DEALLOC, &[base, region_len as u32, BUFFER_ALIGN]).map_err(trap)?;
    }
    result
}

fn build_result<G: Guest + ?Sized>(
    guest: &mut G,
    ty: UdfType,
    rows: usize,
    nulls: Option<NullBuffer>,
    offsets: u32,
    values: u32,
    values_len: usize,
) -> Result<ArrayRef, BatchError> {
    let abi = |e: arrow::error::ArrowError| BatchError::Abi(format!("the result column is not valid: {e}"));
    if let Some(width) = ty.width() {
        if values_len != rows * width {
            return Err(BatchError::Abi(format!(
                "the result column has {values_len} bytes of values for {rows} rows of {}",
                ty.name()
            )));
        }
        let data = read_buffer(guest, values, values_len, "result values")?;
        return Ok(match ty {
            UdfType::I32 => Arc::new(Int32Array::try_new(ScalarBuffer::new(data, 0, rows), nulls).map_err(abi)?),
            UdfType::I64 => Arc::new(Int64Array::try_new(ScalarBuffer::new(data, 0, rows), nulls).map_err(abi)?),
            UdfType::F32 => Arc::new(Float32Array::try_new(ScalarBuffer::new(data, 0, rows), nulls).map_err(abi)?),
            UdfType::F64 => Arc::new(Float64Array::try_new(ScalarBuffer::new(data, 0, rows), nulls).map_err(abi)?),
            _ => Arc::new(
                TimestampMicrosecondArray::try_new(ScalarBuffer::new(data, 0, rows), nulls)
                    .map_err(abi)?
                    .with_timezone("UTC"),
            ),
        });
    }
    if ty == UdfType::Bool {
        if values_len != bitmap_len(rows) {
            return Err(BatchError::Abi(format!("the result bitmap has {values_len} bytes for {rows} rows")));
        }
        let data = read_buffer(guest, values, values_len, "result values")?;
        return Ok(Arc::new(BooleanArray::new(BooleanBuffer::new(data, 0, rows), nulls)));
    }
    let offsets_buffer = read_buffer(guest, offsets, 4 * (rows + 1), "result offsets")?;
    checked_offsets(&offsets_buffer, rows, values_len, "result")?;
    let offsets = OffsetBuffer::new(ScalarBuffer::new(offsets_buffer, 0, rows + 1));
    let data = read_buffer(guest, values, values_len, "result values")?;
    Ok(if ty == UdfType::String {
        Arc::new(StringArray::try_new(offsets, data, nulls).map_err(abi)?)
    } else {
        Arc::new(BinaryArray::try_new(offsets, data, nulls).map_err(abi)?)
    })
}

// ------------------------------------------------------------------------------------------
// A module's instance, discarded after a trap

/// Makes a fresh instance of the compiled module (instantiate, `_initialize`, ABI version check).
pub type GuestFactory = Box<dyn Fn() -> Result<Box<dyn Guest + Send>, String> + Send + Sync>;

/// The instance of one registered module, shared by its functions. After a trap it is dropped and
/// the next call makes a new one from the compiled module.
pub struct ModuleRuntime {
    module: String,
    factory: GuestFactory,
    instance: Mutex<Option<Box<dyn Guest + Send>>>,
}

impl fmt::Debug for ModuleRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModuleRuntime({})", self.module)
    }
}

impl ModuleRuntime {
    pub fn new(module: &str, factory: GuestFactory, first: Option<Box<dyn Guest + Send>>) -> Self {
        ModuleRuntime { module: module.to_string(), factory, instance: Mutex::new(first) }
    }

    fn call(&self, spec: &FunctionSpec, columns: &[ArrayRef]) -> DfResult<ArrayRef> {
        let failed = |message: String| DataFusionError::Execution(message);
        // One thread (wasm32 without threads): a lock held here means the guest called back into
        // a statement that calls it, which the ABI rules out.
        let Ok(mut slot) = self.instance.try_lock() else {
            return Err(failed(format!(
                "UDF {}: its module's instance is already running (re-entrant call)",
                spec.name
            )));
        };
        if slot.is_none() {
            let fresh = (self.factory)().map_err(|e| {
                failed(format!("UDF {}: instantiating module '{}' again failed: {e}", spec.name, self.module))
            })?;
            info!("UDF module '{}': a fresh instance", self.module);
            *slot = Some(fresh);
        }
        let Some(guest) = slot.as_mut() else {
            return Err(failed(format!("UDF {}: no instance", spec.name)));
        };
        match call_batch(guest.as_mut(), spec, columns) {
            Ok(array) => Ok(array),
            Err(BatchError::Rows(message)) => Err(failed(message)),
            Err(BatchError::Trap(message)) => {
                *slot = None;
                Err(failed(format!(
                    "UDF {} (module '{}') trapped: {message}. Its instance was discarded; the next call starts a fresh one",
                    spec.name, self.module
                )))
            }
            Err(BatchError::Abi(message)) => {
                *slot = None;
                Err(failed(format!(
                    "UDF {} (module '{}') broke the UDF ABI: {message}. Its instance was discarded",
                    spec.name, self.module
                )))
            }
        }
    }
}

/// One batch-style manifest function as a DataFusion scalar function.
#[derive(Debug)]
pub struct WasmUdf {
    spec: FunctionSpec,
    signature: Signature,
    runtime: Arc<ModuleRuntime>,
}

impl PartialEq for WasmUdf {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec && Arc::ptr_eq(&self.runtime, &other.runtime)
    }
}

impl Eq for WasmUdf {}

impl Hash for WasmUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.spec.hash(state);
    }
}

impl WasmUdf {
    pub fn new(spec: FunctionSpec, runtime: Arc<ModuleRuntime>) -> Self {
        let volatility = if spec.deterministic { Volatility::Immutable } else { Volatility::Volatile };
        let signature =
            if spec.args.is_empty() { Signature::nullary(volatility) } else { Signature::user_defined(volatility) };
        WasmUdf { spec, signature, runtime }
    }
}

impl ScalarUDFImpl for WasmUdf {
    fn name(&self) -> &str {
        &self.spec.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(self.spec.returns.arrow())
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        if arg_types.len() != self.spec.args.len() {
            return Err(DataFusionError::Plan(format!(
                "{} takes {} argument(s), got {}: {}",
                self.spec.name,
                self.spec.args.len(),
                arg_types.len(),
                self.spec.signature_text()
            )));
        }
        arg_types
            .iter()
            .zip(&self.spec.args)
            .enumerate()
            .map(|(i, (from, arg))| {
                arg.ty.coerce_from(from).ok_or_else(|| {
                    DataFusionError::Plan(format!(
                        "{}: argument {} ({}) is {}, which does not convert to {}: {}",
                        self.spec.name,
                        i + 1,
                        arg.name,
                        from,
                        arg.ty.name(),
                        self.spec.signature_text()
                    ))
                })
            })
            .collect()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let mut columns = Vec::with_capacity(args.args.len());
        for (value, arg) in args.args.iter().zip(&self.spec.args) {
            let array = value.to_array(rows)?;
            let target = arg.ty.arrow();
            columns.push(if array.data_type() == &target { array } else { cast(&array, &target)? });
        }
        if rows == 0 {
            return Ok(ColumnarValue::Array(new_empty_array(&self.spec.returns.arrow())));
        }
        if self.spec.args.is_empty() {
            // No column to carry the row count: the guest gets a descriptor with num_rows only.
            return Err(DataFusionError::NotImplemented(format!(
                "{}: UDFs without arguments are not supported by the browser engine",
                self.spec.name
            )));
        }
        if rows <= CHUNK_ROWS {
            return self.runtime.call(&self.spec, &columns).map(ColumnarValue::Array);
        }
        let mut pieces = Vec::with_capacity(rows.div_ceil(CHUNK_ROWS));
        for start in (0..rows).step_by(CHUNK_ROWS) {
            let len = CHUNK_ROWS.min(rows - start);
            let chunk: Vec<ArrayRef> = columns.iter().map(|c| c.slice(start, len)).collect();
            pieces.push(self.runtime.call(&self.spec, &chunk)?);
        }
        let refs: Vec<&dyn Array> = pieces.iter().map(|p| p.as_ref()).collect();
        Ok(ColumnarValue::Array(concat(&refs)?))
    }
}

// ------------------------------------------------------------------------------------------
// The engine's registry of modules

struct Registered {
    functions: Vec<String>,
    /// Functions of the same name that a registration replaced (DataFusion's `levenshtein`, for
    /// one), put back when the module is deregistered.
    shadowed: Vec<Arc<ScalarUDF>>,
}

/// The UDF modules registered in one engine, by the name given to `register_udf`.
#[derive(Default)]
pub struct UdfRegistry {
    modules: std::cell::RefCell<BTreeMap<String, Registered>>,
}

impl UdfRegistry {
    /// Registers every batch-style function of the module in `wasm`; returns their SQL names. A
    /// module registered under the same name before is replaced.
    pub fn register(&self, ctx: &SessionContext, module: &str, wasm: &[u8]) -> Result<Vec<String>, String> {
        if module.is_empty() {
            return Err("the module needs a name (the name deregister_udf takes)".into());
        }
        let (specs, runtime) = load(module, wasm)?;
        let batch: Vec<FunctionSpec> = specs.iter().filter(|s| s.has_batch()).cloned().collect();
        if batch.is_empty() {
            let listed: Vec<String> = specs.iter().map(|s| format!("{} ({})", s.name, s.styles.join(", "))).collect();
            return Err(format!(
                "the module has no function with the batch style, the only style the browser engine calls: {}",
                listed.join("; ")
            ));
        }
        {
            let modules = self.modules.borrow();
            for spec in &batch {
                if let Some((other, _)) =
                    modules.iter().find(|(name, r)| name.as_str() != module && r.functions.contains(&spec.name))
                {
                    return Err(format!(
                        "the function '{}' is already registered by UDF module '{other}': deregister_udf('{other}') first",
                        spec.name
                    ));
                }
            }
        }
        if self.modules.borrow().contains_key(module) {
            self.deregister(ctx, module)?;
        }
        let mut registered = Registered { functions: Vec::new(), shadowed: Vec::new() };
        for spec in batch {
            if let Ok(existing) = ctx.udf(&spec.name) {
                registered.shadowed.push(existing);
            }
            registered.functions.push(spec.name.clone());
            ctx.register_udf(ScalarUDF::new_from_impl(WasmUdf::new(spec, runtime.clone())));
        }
        info!("registered UDF module '{module}' ({} bytes): {}", wasm.len(), registered.functions.join(", "));
        let names = registered.functions.clone();
        self.modules.borrow_mut().insert(module.to_string(), registered);
        Ok(names)
    }

    /// Removes the module's functions, putting back what they replaced.
    pub fn deregister(&self, ctx: &SessionContext, module: &str) -> Result<(), String> {
        let Some(registered) = self.modules.borrow_mut().remove(module) else {
            let known: Vec<String> = self.modules.borrow().keys().cloned().collect();
            return Err(format!(
                "no UDF module named '{module}' is registered (registered: {})",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            ));
        };
        for name in &registered.functions {
            ctx.deregister_udf(name);
        }
        for previous in registered.shadowed {
            ctx.register_udf(previous.as_ref().clone());
        }
        info!("deregistered UDF module '{module}'");
        Ok(())
    }

    /// The registered modules and their functions, by module name.
    pub fn modules(&self) -> Vec<(String, Vec<String>)> {
        self.modules.borrow().iter().map(|(k, r)| (k.clone(), r.functions.clone())).collect()
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn load(_module: &str, _wasm: &[u8]) -> Result<(Vec<FunctionSpec>, Arc<ModuleRuntime>), String> {
    Err("UDF modules run in the browser build only: the engine instantiates them with the browser's \
         WebAssembly API (natively, use the reference host, toolchain/pipeline/udf_call.py)"
        .into())
}

#[cfg(target_arch = "wasm32")]
fn load(module: &str, wasm: &[u8]) -> Result<(Vec<FunctionSpec>, Arc<ModuleRuntime>), String> {
    let (compiled, manifest) = browser::compile(wasm)?;
    let specs = parse_manifest(&manifest)?;
    let compiled = Arc::new(compiled);
    let batch: Vec<FunctionSpec> = specs.iter().filter(|s| s.has_batch()).cloned().collect();
    let factory: GuestFactory =
        Box::new(move || browser::instantiate(&compiled, &batch).map(|guest| Box::new(guest) as Box<dyn Guest + Send>));
    // Instantiated once now, so a module that cannot run fails here rather than in a query.
    let first = factory()?;
    Ok((specs, Arc::new(ModuleRuntime::new(module, factory, Some(first)))))
}

/// The browser's WebAssembly API through js-sys: compiling, instantiating, calling, copying.
#[cfg(target_arch = "wasm32")]
mod browser {
    use js_sys::{Array, ArrayBuffer, Function, Object, Reflect, Uint8Array, WebAssembly};
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;

    use super::{
        FunctionSpec, Guest, ABI_MAJOR, DOC_IMPORT_MODULE, EXPORT_ABI_VERSION, EXPORT_ALLOC, EXPORT_DEALLOC,
        MANIFEST_SECTION,
    };

    /// What a JS exception says: "RuntimeError: unreachable", "RangeError: Maximum call stack...".
    fn describe(error: &JsValue) -> String {
        match error.dyn_ref::<js_sys::Error>() {
            Some(e) => format!("{}: {}", String::from(e.name()), String::from(e.message())),
            None => error.as_string().unwrap_or_else(|| format!("{error:?}")),
        }
    }

    fn get(object: &JsValue, key: &str) -> JsValue {
        Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
    }

    pub struct Compiled {
        module: WebAssembly::Module,
        imports: Object,
    }

    // SAFETY: wasm32-unknown-unknown as this crate builds it has one thread (no atomics, no
    // workers sharing the engine's memory), so these JS handles are only ever touched from the
    // thread that made them. DataFusion's traits ask for Send + Sync only because natively
    // functions may run on a thread pool.
    unsafe impl Send for Compiled {}
    unsafe impl Sync for Compiled {}

    pub struct Instance {
        memory: WebAssembly::Memory,
        exports: Object,
    }

    // SAFETY: as for Compiled.
    unsafe impl Send for Instance {}

    /// Compiles the module and reads its manifest; refuses imports other than `wasmqe_doc`'s.
    pub fn compile(bytes: &[u8]) -> Result<(Compiled, String), String> {
        let module = WebAssembly::Module::new(&Uint8Array::from(bytes).into())
            .map_err(|e| format!("the browser could not compile it as a WebAssembly module: {}", describe(&e)))?;
        let stub: JsValue = Closure::<dyn Fn() -> i32>::new(|| -1).into_js_value();
        let doc = Object::new();
        let mut refused = Vec::new();
        for import in WebAssembly::Module::imports(&module).iter() {
            let (from, name, kind) = (get(&import, "module"), get(&import, "name"), get(&import, "kind"));
            let (from, name) = (from.as_string().unwrap_or_default(), name.as_string().unwrap_or_default());
            if from == DOC_IMPORT_MODULE && kind.as_string().as_deref() == Some("function") {
                // Batch calls never call the document API: every stub answers "bad handle" (-1).
                let _ = Reflect::set(&doc, &JsValue::from_str(&name), &stub);
            } else {
                refused.push(format!("{from}.{name}"));
            }
        }
        if !refused.is_empty() {
            return Err(format!(
                "the module imports {}: the browser engine provides only the {DOC_IMPORT_MODULE} functions (and \
                 calls the batch style only) and no WASI, so modules that need WASI (Go's) cannot run here",
                refused.join(", ")
            ));
        }
        let imports = Object::new();
        let _ = Reflect::set(&imports, &JsValue::from_str(DOC_IMPORT_MODULE), &doc);
        let sections: Array = WebAssembly::Module::custom_sections(&module, MANIFEST_SECTION);
        if sections.length() == 0 {
            return Err(format!(
                "the module has no '{MANIFEST_SECTION}' custom section, the manifest that lists its functions \
                 (docs/udf-abi.md section 2): build it with `nox -s udf -- build`, which also validates it"
            ));
        }
        let mut text = Vec::new();
        for section in sections.iter() {
            text.extend(Uint8Array::new(&section).to_vec());
            text.push(b'\n');
        }
        let manifest = String::from_utf8(text).map_err(|_| format!("the '{MANIFEST_SECTION}' section is not UTF-8"))?;
        Ok((Compiled { module, imports }, manifest))
    }

    fn function(exports: &Object, name: &str) -> Result<Function, String> {
        get(exports, name)
            .dyn_into::<Function>()
            .map_err(|_| format!("the module does not export the function {name} (docs/udf-abi.md)"))
    }

    /// A new instance: exports checked, `_initialize` called if there is one, the ABI version checked.
    pub fn instantiate(compiled: &Compiled, batch: &[FunctionSpec]) -> Result<Instance, String> {
        let instance = WebAssembly::Instance::new(&compiled.module, &compiled.imports)
            .map_err(|e| format!("instantiating the module failed: {}", describe(&e)))?;
        let exports = instance.exports();
        let memory = get(&exports, "memory")
            .dyn_into::<WebAssembly::Memory>()
            .map_err(|_| "the module does not export its memory as 'memory' (docs/udf-abi.md)".to_string())?;
        if !memory.buffer().is_instance_of::<ArrayBuffer>() {
            return Err("the module's memory is shared, which the ABI forbids".into());
        }
        for name in [EXPORT_ALLOC, EXPORT_DEALLOC, EXPORT_ABI_VERSION] {
            function(&exports, name)?;
        }
        for spec in batch {
            function(&exports, &spec.batch_export())?;
        }
        let mut guest = Instance { memory, exports };
        if get(&guest.exports, "_initialize").is_function() {
            guest.call("_initialize", &[]).map_err(|e| format!("_initialize trapped: {e}"))?;
        }
        let version = guest.call(EXPORT_ABI_VERSION, &[]).map_err(|e| format!("{EXPORT_ABI_VERSION} trapped: {e}"))?;
        if version != ABI_MAJOR {
            return Err(format!(
                "the module's {EXPORT_ABI_VERSION}() is {version}; this engine speaks ABI {ABI_MAJOR}"
            ));
        }
        Ok(guest)
    }

    impl Instance {
        /// A view of guest memory, after checking the range (a view past the end would throw).
        fn view(&self, ptr: u32, len: usize) -> Result<Uint8Array, String> {
            // Fetched at every access: memory.grow during a call detaches the previous buffer.
            let buffer = self.memory.buffer();
            let size = buffer.unchecked_ref::<ArrayBuffer>().byte_length() as u64;
            if ptr as u64 + len as u64 > size {
                return Err(format!("{ptr}+{len} is outside the guest's memory ({size} bytes)"));
            }
            Ok(Uint8Array::new_with_byte_offset_and_length(&buffer, ptr, len as u32))
        }
    }

    impl Guest for Instance {
        fn call(&mut self, export: &str, args: &[u32]) -> Result<i32, String> {
            let f = function(&self.exports, export)?;
            let arg = |i: usize| JsValue::from(args[i] as i32);
            let this = JsValue::UNDEFINED;
            let result = match args.len() {
                0 => f.call0(&this),
                1 => f.call1(&this, &arg(0)),
                2 => f.call2(&this, &arg(0), &arg(1)),
                _ => f.call3(&this, &arg(0), &arg(1), &arg(2)),
            };
            // A trap is a JS exception; js-sys catches it and hands it over as the Err.
            result.map(|v| v.as_f64().map_or(0, |n| n as i32)).map_err(|e| describe(&e))
        }

        fn write(&mut self, ptr: u32, data: &[u8]) -> Result<(), String> {
            if !data.is_empty() {
                self.view(ptr, data.len())?.copy_from(data);
            }
            Ok(())
        }

        fn read(&mut self, ptr: u32, dest: &mut [u8]) -> Result<(), String> {
            if !dest.is_empty() {
                self.view(ptr, dest.len())?.copy_to(dest);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};

    const LEVENSHTEIN: &str = r#"{"abi":"1.0","name":"levenshtein","args":[{"name":"a","type":"string"},{"name":"b","type":"string"}],"returns":{"type":"i64"},"fallible":false,"deterministic":true,"styles":["document","batch"]}"#;

    #[test]
    fn manifests_parse_and_bad_ones_say_why() {
        let specs = parse_manifest(&format!("{LEVENSHTEIN}\n\n")).unwrap();
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].signature_text(), "levenshtein(a string, b string) -> i64");
        assert!(specs[0].has_batch() && specs[0].deterministic && !specs[0].fallible);
        let ts = r#"{"abi":"1.0","name":"f","args":[{"name":"t","type":"timestamp","nullable":true}],"returns":{"type":"string","nullable":true},"fallible":true,"deterministic":false,"styles":["batch"]}"#;
        let spec = &parse_manifest(ts).unwrap()[0];
        assert_eq!(spec.args[0].ty.arrow(), DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())));
        assert!(spec.args[0].nullable && spec.returns_nullable && spec.fallible);
        for (bad, says) in [
            ("", "lists no function"),
            ("{", "invalid JSON"),
            (&LEVENSHTEIN.replace("\"abi\":\"1.0\"", "\"abi\":\"2.0\""), "ABI '2.0'"),
            (&LEVENSHTEIN.replace("\"i64\"", "\"u64\""), "unknown type 'u64'"),
            (&LEVENSHTEIN.replace("levenshtein", "Lev"), "not a valid function name"),
            (&LEVENSHTEIN.replace("\"fallible\"", "\"extra\":1,\"fallible\""), "unknown key 'extra'"),
            (&LEVENSHTEIN.replace(",\"fallible\":false", ""), "no 'fallible'"),
            (&format!("{LEVENSHTEIN}\n{LEVENSHTEIN}"), "twice"),
        ] {
            let error = parse_manifest(bad).unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }

    #[test]
    fn json_strings_and_numbers() {
        assert_eq!(
            JsonParser::parse(r#"{"s":"a\"\\\u00e9\ud83d\ude42","n":[-1.5e2,0]}"#).unwrap(),
            Json::Obj(vec![
                ("s".into(), Json::Str("a\"\\é🙂".into())),
                ("n".into(), Json::Arr(vec![Json::Num(-150.0), Json::Num(0.0)]))
            ])
        );
        assert!(JsonParser::parse(&"[".repeat(100)).unwrap_err().contains("too deep"));
        assert!(JsonParser::parse("\"abc").is_err());
        assert!(JsonParser::parse("[1] 2").is_err());
    }

    #[test]
    fn arguments_coerce_to_the_manifest_types() {
        assert_eq!(UdfType::String.coerce_from(&DataType::Utf8View), Some(DataType::Utf8));
        assert_eq!(UdfType::String.coerce_from(&DataType::LargeUtf8), Some(DataType::Utf8));
        assert_eq!(UdfType::String.coerce_from(&DataType::Int64), None);
        assert_eq!(UdfType::I32.coerce_from(&DataType::Int64), Some(DataType::Int32));
        assert_eq!(UdfType::I32.coerce_from(&DataType::Float64), None);
        assert_eq!(UdfType::F64.coerce_from(&DataType::Int32), Some(DataType::Float64));
        assert_eq!(
            UdfType::Timestamp.coerce_from(&DataType::Timestamp(TimeUnit::Millisecond, None)),
            Some(UdfType::Timestamp.arrow())
        );
        assert_eq!(UdfType::Bool.coerce_from(&DataType::Null), Some(DataType::Boolean));
    }

    /// A guest written in Rust: a bump allocator over a Vec, and `__batch` functions that read
    /// the descriptor like an SDK does. `lens(s string) -> i64` returns byte lengths (an error
    /// for "bad"), `twice(s string) -> string` repeats its argument, `boom` traps.
    struct MockGuest {
        memory: Vec<u8>,
        live: Vec<(u32, u32)>,
    }

    impl MockGuest {
        fn new() -> Self {
            MockGuest { memory: vec![0; 1 << 16], live: Vec::new() }
        }
        fn u32_at(&self, at: u32) -> u32 {
            le_u32(&self.memory, at as usize)
        }
        fn put_u32(&mut self, at: u32, v: u32) {
            self.memory[at as usize..at as usize + 4].copy_from_slice(&v.to_le_bytes());
        }
        fn alloc(&mut self, size: u32) -> u32 {
            let top = self.live.iter().map(|(p, s)| align8((p + s) as usize)).max().unwrap_or(1024) as u32;
            self.live.push((top, size));
            top
        }
        fn put(&mut self, data: &[u8]) -> u32 {
            let p = self.alloc(data.len() as u32);
            self.memory[p as usize..p as usize + data.len()].copy_from_slice(data);
            p
        }
        fn strings(&self, desc: u32, column: u32) -> Vec<Option<Vec<u8>>> {
            let rows = self.u32_at(desc + 4) as usize;
            let at = desc + 16 + 24 * column;
            let (validity, offsets, values) = (self.u32_at(at + 4), self.u32_at(at + 8), self.u32_at(at + 12));
            (0..rows)
                .map(|i| {
                    if validity != 0 && !bit(&self.memory[validity as usize..], i) {
                        return None;
                    }
                    let (s, e) = (self.u32_at(offsets + 4 * i as u32), self.u32_at(offsets + 4 * i as u32 + 4));
                    Some(self.memory[(values + s) as usize..(values + e) as usize].to_vec())
                })
                .collect()
        }
        fn batch(&mut self, name: &str, desc: u32) -> i32 {
            let rows = self.u32_at(desc + 4) as usize;
            let input = self.strings(desc, 0);
            let result = desc + 16 + 24;
            let mut validity = vec![0u8; bitmap_len(rows)];
            for (i, v) in input.iter().enumerate() {
                if v.is_some() {
                    validity[i / 8] |= 1 << (i % 8);
                }
            }
            let validity = self.put(&validity);
            if name == "lens" {
                let values: Vec<u8> =
                    input.iter().flat_map(|v| (v.as_ref().map_or(0, |v| v.len()) as i64).to_le_bytes()).collect();
                let values = self.put(&values);
                for (k, v) in [(0, 3), (4, validity), (12, values), (16, 8 * rows as u32)] {
                    self.put_u32(result + k, v);
                }
                if let Some(bad) = input.iter().position(|v| v.as_deref() == Some(b"bad")) {
                    let errors = result + 24;
                    let mut bitmap = vec![0u8; bitmap_len(rows)];
                    bitmap[bad / 8] |= 1 << (bad % 8);
                    let message = b"bad input";
                    let offsets: Vec<u8> = (0..=rows)
                        .flat_map(|i| (if i > bad { message.len() as i32 } else { 0 }).to_le_bytes())
                        .collect();
                    let (b, o, m) = (self.put(&bitmap), self.put(&offsets), self.put(message));
                    for (k, v) in [(0, 1), (4, b), (8, o), (12, m), (16, message.len() as u32)] {
                        self.put_u32(errors + k, v);
                    }
                }
            } else {
                let mut data = Vec::new();
                let mut offsets = vec![0i32];
                for v in &input {
                    if let Some(v) = v {
                        data.extend_from_slice(v);
                        data.extend_from_slice(v);
                    }
                    offsets.push(data.len() as i32);
                }
                let offsets: Vec<u8> = offsets.iter().flat_map(|o| o.to_le_bytes()).collect();
                let (o, d) = (self.put(&offsets), self.put(&data));
                for (k, v) in [(0, 6), (4, validity), (8, o), (12, d), (16, data.len() as u32)] {
                    self.put_u32(result + k, v);
                }
            }
            0
        }
    }

    impl Guest for MockGuest {
        fn call(&mut self, export: &str, args: &[u32]) -> Result<i32, String> {
            match export {
                EXPORT_ALLOC => Ok(self.alloc(args[0]) as i32),
                EXPORT_DEALLOC => {
                    let at = self.live.iter().position(|&(p, s)| p == args[0] && s == args[1]);
                    self.live.remove(at.ok_or(format!("dealloc of {args:?}, never allocated"))?);
                    Ok(0)
                }
                "boom__batch" => Err("RuntimeError: unreachable".into()),
                name => Ok(self.batch(name.trim_end_matches("__batch"), args[0])),
            }
        }
        fn write(&mut self, ptr: u32, data: &[u8]) -> Result<(), String> {
            self.memory.get_mut(ptr as usize..ptr as usize + data.len()).ok_or("out")?.copy_from_slice(data);
            Ok(())
        }
        fn read(&mut self, ptr: u32, dest: &mut [u8]) -> Result<(), String> {
            dest.copy_from_slice(self.memory.get(ptr as usize..ptr as usize + dest.len()).ok_or("out")?);
            Ok(())
        }
    }

    fn spec(name: &str, returns: &str) -> FunctionSpec {
        let line = format!(
            r#"{{"abi":"1.0","name":"{name}","args":[{{"name":"s","type":"string","nullable":true}}],"returns":{{"type":"{returns}"}},"fallible":true,"deterministic":true,"styles":["batch"]}}"#
        );
        parse_manifest(&line).unwrap().remove(0)
    }

    #[test]
    fn batches_cross_in_the_abi_layout_and_every_guest_buffer_is_freed() {
        let mut guest = MockGuest::new();
        // A slice: offsets that do not start at 0 and a validity bitmap at a bit offset.
        let full: ArrayRef = Arc::new(StringArray::from(vec![Some("zz"), Some("kitten"), None, Some(""), Some("é")]));
        let column = full.slice(1, 4);
        let lens = call_batch(&mut guest, &spec("lens", "i64"), std::slice::from_ref(&column)).unwrap();
        assert_eq!(
            lens.as_any().downcast_ref::<Int64Array>().unwrap(),
            &Int64Array::from(vec![Some(6), None, Some(0), Some(2)])
        );
        let twice = call_batch(&mut guest, &spec("twice", "string"), &[column]).unwrap();
        assert_eq!(
            twice.as_any().downcast_ref::<StringArray>().unwrap(),
            &StringArray::from(vec![Some("kittenkitten"), None, Some(""), Some("éé")])
        );
        assert!(guest.live.is_empty(), "leaked: {:?}", guest.live);
        let bad: ArrayRef = Arc::new(StringArray::from(vec!["ok", "bad"]));
        assert_eq!(
            call_batch(&mut guest, &spec("lens", "i64"), &[bad]),
            Err(BatchError::Rows("lens: row 2 of the batch failed: bad input".into()))
        );
        assert!(guest.live.is_empty(), "leaked: {:?}", guest.live);
        let wrong = call_batch(&mut guest, &spec("lens", "string"), std::slice::from_ref(&full)).unwrap_err();
        assert!(matches!(&wrong, BatchError::Abi(m) if m.contains("type tag 3")), "{wrong:?}");
        assert!(matches!(call_batch(&mut guest, &spec("boom", "i64"), &[full]), Err(BatchError::Trap(_))));
    }
}
