//! The manifest (docs/udf-abi.md section 2): one JSON line per function, built at compile time.
//!
//! [`udf!`](crate::udf) turns a function into a [`FnInfo`] constant, and [`line`] renders it into
//! a `[u8; line_len(&INFO)]` static placed in the `wasm-qe-udf` custom section. Everything here is
//! a `const fn`: no code runs at instantiation and nothing is formatted at run time.

/// One argument of a manifest record.
#[derive(Clone, Copy, Debug)]
pub struct ArgInfo {
    pub name: &'static str,
    /// the ABI type name (`"i64"`, `"string"`, ...)
    pub ty: &'static str,
    pub nullable: bool,
    /// false for a parameter that is not a document field (`&Document`): not listed in `args`
    pub listed: bool,
}

/// One manifest record.
#[derive(Clone, Copy, Debug)]
pub struct FnInfo {
    pub name: &'static str,
    pub args: &'static [ArgInfo],
    pub returns: &'static str,
    pub returns_nullable: bool,
    pub fallible: bool,
    pub deterministic: bool,
    pub styles: &'static [&'static str],
}

/// The `abi` of every record.
pub const ABI: &str = "1.0";

/// Writes `s` at `at` (as far as `buf` reaches) and returns the position after it.
const fn put(buf: &mut [u8], mut at: usize, s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if at < buf.len() {
            buf[at] = b[i];
        }
        at += 1;
        i += 1;
    }
    at
}

const fn put_bool(buf: &mut [u8], at: usize, v: bool) -> usize {
    put(buf, at, if v { "true" } else { "false" })
}

/// Renders the record of `f` into `buf` (which may be too short, even empty) and returns its length.
/// Names and type names are identifiers (checked by [`valid_name`]), so they need no escaping.
pub const fn write_line(f: &FnInfo, buf: &mut [u8]) -> usize {
    let mut at = put(buf, 0, "{\"abi\":\"");
    at = put(buf, at, ABI);
    at = put(buf, at, "\",\"name\":\"");
    at = put(buf, at, f.name);
    at = put(buf, at, "\",\"args\":[");
    let mut i = 0;
    let mut first = true;
    while i < f.args.len() {
        let a = &f.args[i];
        i += 1;
        if !a.listed {
            continue;
        }
        if !first {
            at = put(buf, at, ",");
        }
        first = false;
        at = put(buf, at, "{\"name\":\"");
        at = put(buf, at, a.name);
        at = put(buf, at, "\",\"type\":\"");
        at = put(buf, at, a.ty);
        at = put(buf, at, "\",\"nullable\":");
        at = put_bool(buf, at, a.nullable);
        at = put(buf, at, "}");
    }
    at = put(buf, at, "],\"returns\":{\"type\":\"");
    at = put(buf, at, f.returns);
    at = put(buf, at, "\",\"nullable\":");
    at = put_bool(buf, at, f.returns_nullable);
    at = put(buf, at, "},\"fallible\":");
    at = put_bool(buf, at, f.fallible);
    at = put(buf, at, ",\"deterministic\":");
    at = put_bool(buf, at, f.deterministic);
    at = put(buf, at, ",\"styles\":[");
    let mut s = 0;
    while s < f.styles.len() {
        if s > 0 {
            at = put(buf, at, ",");
        }
        at = put(buf, at, "\"");
        at = put(buf, at, f.styles[s]);
        at = put(buf, at, "\"");
        s += 1;
    }
    put(buf, at, "]}\n")
}

/// The length of the record of `f`, newline included.
pub const fn line_len(f: &FnInfo) -> usize {
    write_line(f, &mut [])
}

/// The record of `f` as bytes; `N` must be [`line_len`]`(f)`.
pub const fn line<const N: usize>(f: &FnInfo) -> [u8; N] {
    let mut buf = [0u8; N];
    let n = write_line(f, &mut buf);
    assert!(n == N, "manifest line length mismatch");
    buf
}

/// `[a-z_][a-z0-9_]*`, 1 to 64 bytes: the pattern of function and argument names.
pub const fn valid_name(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 64 || b[0].is_ascii_digit() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_') {
            return false;
        }
        i += 1;
    }
    true
}

/// Every name of the record is valid ([`valid_name`]); the styles are known and not repeated.
pub const fn valid_info(f: &FnInfo) -> bool {
    if !valid_name(f.name) {
        return false;
    }
    let mut i = 0;
    while i < f.args.len() {
        if f.args[i].listed && !valid_name(f.args[i].name) {
            return false;
        }
        i += 1;
    }
    let mut s = 0;
    while s < f.styles.len() {
        let mut t = s + 1;
        while t < f.styles.len() {
            if eq(f.styles[s], f.styles[t]) {
                return false;
            }
            t += 1;
        }
        s += 1;
    }
    true
}

const fn eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}
