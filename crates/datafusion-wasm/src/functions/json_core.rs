//! JSON without DataFusion: a strict parser into a compact binary form, path lookup in that form and
//! rendering back to JSON text. Nothing here recurses: nesting is tracked on a heap `Vec`, so a
//! deeply nested document cannot overflow the (small) browser stack; documents nested deeper than
//! `MAX_DEPTH` are refused anyway. Unit tests run standalone:
//! `rustc --edition 2021 --test src/functions/json_core.rs -o /tmp/t && /tmp/t`.
//!
//! The binary form (docs/functions.md): a value is one tag byte and its payload, integers LE.
//!
//! | tag | value   | payload                                                                  |
//! |-----|---------|--------------------------------------------------------------------------|
//! | 0   | null    |                                                                          |
//! | 1/2 | false/true |                                                                       |
//! | 3   | integer | i64                                                                      |
//! | 4   | float   | f64                                                                      |
//! | 5   | string  | u32 byte length, UTF-8 bytes                                             |
//! | 6   | array   | u32 body length, u32 count, the elements                                 |
//! | 7   | object  | u32 body length, u32 count, per member: u32 key length, key bytes, value |
//!
//! The body length (the bytes after the 9-byte header) lets a lookup skip a container in O(1).

pub const MAX_DEPTH: usize = 512;

pub const NULL: u8 = 0;
pub const FALSE: u8 = 1;
pub const TRUE: u8 = 2;
pub const INT: u8 = 3;
pub const FLOAT: u8 = 4;
pub const STR: u8 = 5;
pub const ARR: u8 = 6;
pub const OBJ: u8 = 7;

/// Why a text is not JSON: the byte offset and what was wrong there.
#[derive(Debug, PartialEq)]
pub struct ParseError {
    pub at: usize,
    pub what: &'static str,
}

/// A binary value that `parse` cannot have written (truncated, unknown tag, bad UTF-8).
#[derive(Debug, PartialEq)]
pub struct BadBinary;

fn ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

fn put_u32(out: &mut [u8], at: usize, v: usize) {
    out[at..at + 4].copy_from_slice(&(v as u32).to_le_bytes());
}

/// Parses `text` (RFC 8259, strictly: no NaN, no comments, no trailing commas, no lone surrogates;
/// numbers must fit f64) and appends its binary form to `out`. On error `out` is left truncated to
/// its length before the call.
pub fn parse(text: &str, out: &mut Vec<u8>) -> Result<(), ParseError> {
    let start = out.len();
    let result = parse_into(text.as_bytes(), out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn parse_into(b: &[u8], out: &mut Vec<u8>) -> Result<(), ParseError> {
    let err = |at, what| Err(ParseError { at, what });
    // Open containers: offset of their tag, element count, whether an object.
    let mut stack: Vec<(usize, usize, bool)> = Vec::new();
    let mut i = ws(b, 0);
    loop {
        // A value starts at i.
        let Some(&c) = b.get(i) else { return err(i, "expected a value") };
        let mut closed_empty = false;
        match c {
            b'{' | b'[' => {
                if stack.len() >= MAX_DEPTH {
                    return err(i, "nested too deeply");
                }
                let obj = c == b'{';
                stack.push((out.len(), 0, obj));
                out.extend_from_slice(&[if obj { OBJ } else { ARR }, 0, 0, 0, 0, 0, 0, 0, 0]);
                i = ws(b, i + 1);
                if b.get(i) == Some(if obj { &b'}' } else { &b']' }) {
                    i += 1;
                    closed_empty = true;
                } else if obj {
                    i = member_key(b, i, out)?;
                    continue;
                } else {
                    continue;
                }
            }
            b'"' => {
                out.push(STR);
                i = string(b, i, out)?;
            }
            b't' | b'f' | b'n' => {
                let (word, tag): (&[u8], u8) = match c {
                    b't' => (b"true", TRUE),
                    b'f' => (b"false", FALSE),
                    _ => (b"null", NULL),
                };
                if !b[i..].starts_with(word) {
                    return err(i, "invalid literal");
                }
                out.push(tag);
                i += word.len();
            }
            b'-' | b'0'..=b'9' => i = number(b, i, out)?,
            _ => return err(i, "expected a value"),
        }
        // A value ended at i (or a container closed empty): close containers, find the next value.
        let mut just_closed = closed_empty;
        loop {
            if just_closed {
                let (at, count, _) = stack.pop().expect("a container was open");
                let body = out.len() - at - 9;
                if body > u32::MAX as usize {
                    return err(i, "document too large");
                }
                put_u32(out, at + 1, body);
                put_u32(out, at + 5, count);
            }
            i = ws(b, i);
            let Some(top) = stack.last_mut() else {
                return if i == b.len() { Ok(()) } else { err(i, "unexpected text after the document") };
            };
            top.1 += 1;
            let obj = top.2;
            match b.get(i) {
                Some(b',') => {
                    i = ws(b, i + 1);
                    if obj {
                        i = member_key(b, i, out)?;
                    }
                    break;
                }
                Some(&c) if c == if obj { b'}' } else { b']' } => {
                    i += 1;
                    just_closed = true;
                }
                _ => return err(i, if obj { "expected ',' or '}'" } else { "expected ',' or ']'" }),
            }
        }
    }
}

/// An object member's key and its ':' at i; returns where the value starts.
fn member_key(b: &[u8], i: usize, out: &mut Vec<u8>) -> Result<usize, ParseError> {
    if b.get(i) != Some(&b'"') {
        return Err(ParseError { at: i, what: "expected a string key" });
    }
    let i = ws(b, string(b, i, out)?);
    if b.get(i) != Some(&b':') {
        return Err(ParseError { at: i, what: "expected ':'" });
    }
    Ok(ws(b, i + 1))
}

fn hex4(b: &[u8], i: usize) -> Result<u32, ParseError> {
    let digits = b.get(i..i + 4).ok_or(ParseError { at: i, what: "truncated \\u escape" })?;
    let mut v = 0;
    for &d in digits {
        let x = (d as char).to_digit(16).ok_or(ParseError { at: i, what: "invalid \\u escape" })?;
        v = v * 16 + x;
    }
    Ok(v)
}

/// The string whose opening quote is at i, written as u32 length + UTF-8; returns the offset after
/// the closing quote. `b` is valid UTF-8 (it came from a &str), so raw bytes are copied as they are.
fn string(b: &[u8], mut i: usize, out: &mut Vec<u8>) -> Result<usize, ParseError> {
    let len_at = out.len();
    out.extend_from_slice(&[0; 4]);
    i += 1;
    loop {
        let run = i;
        while i < b.len() && b[i] != b'"' && b[i] != b'\\' && b[i] >= 0x20 {
            i += 1;
        }
        out.extend_from_slice(&b[run..i]);
        match b.get(i) {
            None => return Err(ParseError { at: i, what: "unterminated string" }),
            Some(b'"') => break,
            Some(b'\\') => {
                let e = *b.get(i + 1).ok_or(ParseError { at: i, what: "unterminated string" })?;
                let simple = match e {
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'/' => b'/',
                    b'b' => 8,
                    b'f' => 12,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'u' => 0,
                    _ => return Err(ParseError { at: i, what: "invalid escape" }),
                };
                if e != b'u' {
                    out.push(simple);
                    i += 2;
                    continue;
                }
                let mut cp = hex4(b, i + 2)?;
                i += 6;
                if (0xDC00..0xE000).contains(&cp) {
                    return Err(ParseError { at: i - 6, what: "lone surrogate" });
                }
                if (0xD800..0xDC00).contains(&cp) {
                    let low = if b.get(i..i + 2) == Some(b"\\u") { hex4(b, i + 2)? } else { 0 };
                    if !(0xDC00..0xE000).contains(&low) {
                        return Err(ParseError { at: i - 6, what: "lone surrogate" });
                    }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    i += 6;
                }
                let ch = char::from_u32(cp).ok_or(ParseError { at: i, what: "invalid \\u escape" })?;
                let mut buf = [0; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            Some(_) => return Err(ParseError { at: i, what: "control character in string" }),
        }
    }
    let len = out.len() - len_at - 4;
    if len > u32::MAX as usize {
        return Err(ParseError { at: i, what: "string too long" });
    }
    put_u32(out, len_at, len);
    Ok(i + 1)
}

fn number(b: &[u8], start: usize, out: &mut Vec<u8>) -> Result<usize, ParseError> {
    let bad = |at| Err(ParseError { at, what: "invalid number" });
    let digits = |mut i: usize| {
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        (i, i - s)
    };
    let mut i = start + usize::from(b[start] == b'-');
    let (end, n) = digits(i);
    if n == 0 || (n > 1 && b[i] == b'0') {
        return bad(i);
    }
    i = end;
    let mut integer = true;
    if b.get(i) == Some(&b'.') {
        let (end, n) = digits(i + 1);
        if n == 0 {
            return bad(i + 1);
        }
        i = end;
        integer = false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let (end, n) = digits(i);
        if n == 0 {
            return bad(i);
        }
        i = end;
        integer = false;
    }
    // The text is ASCII digits and signs: valid UTF-8.
    let text = std::str::from_utf8(&b[start..i]).map_err(|_| ParseError { at: start, what: "invalid number" })?;
    if integer {
        if let Ok(v) = text.parse::<i64>() {
            out.push(INT);
            out.extend_from_slice(&v.to_le_bytes());
            return Ok(i);
        }
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => {
            out.push(FLOAT);
            out.extend_from_slice(&v.to_le_bytes());
            Ok(i)
        }
        _ => Err(ParseError { at: start, what: "number out of range" }),
    }
}

// ------------------------------------------------------------------------------------ reading

/// One value of the binary form, read at an offset.
#[derive(Debug, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
    /// Element count and the offset of the first element.
    Array(usize, usize),
    /// Member count and the offset of the first member.
    Object(usize, usize),
}

fn u32_at(b: &[u8], at: usize) -> Result<usize, BadBinary> {
    let bytes = b.get(at..at.checked_add(4).ok_or(BadBinary)?).ok_or(BadBinary)?;
    Ok(u32::from_le_bytes(bytes.try_into().map_err(|_| BadBinary)?) as usize)
}

fn slice(b: &[u8], at: usize, len: usize) -> Result<&[u8], BadBinary> {
    b.get(at..at.checked_add(len).ok_or(BadBinary)?).ok_or(BadBinary)
}

fn str_at(b: &[u8], at: usize) -> Result<(&str, usize), BadBinary> {
    let len = u32_at(b, at)?;
    let bytes = slice(b, at + 4, len)?;
    Ok((std::str::from_utf8(bytes).map_err(|_| BadBinary)?, at + 4 + len))
}

/// The value at `at` and the offset just after it.
pub fn read(b: &[u8], at: usize) -> Result<(Value<'_>, usize), BadBinary> {
    let tag = *b.get(at).ok_or(BadBinary)?;
    let p = at + 1;
    let eight = |b: &[u8]| -> Result<[u8; 8], BadBinary> { slice(b, p, 8)?.try_into().map_err(|_| BadBinary) };
    Ok(match tag {
        NULL => (Value::Null, p),
        FALSE | TRUE => (Value::Bool(tag == TRUE), p),
        INT => (Value::Int(i64::from_le_bytes(eight(b)?)), p + 8),
        FLOAT => (Value::Float(f64::from_le_bytes(eight(b)?)), p + 8),
        STR => {
            let (s, end) = str_at(b, p)?;
            (Value::Str(s), end)
        }
        ARR | OBJ => {
            let body = u32_at(b, p)?;
            let count = u32_at(b, p + 4)?;
            let end = slice(b, p + 8, body).map(|_| p + 8 + body)?;
            if count > body {
                return Err(BadBinary);
            }
            let v = if tag == ARR { Value::Array(count, p + 8) } else { Value::Object(count, p + 8) };
            (v, end)
        }
        _ => return Err(BadBinary),
    })
}

/// One step of a path: an object key, or an array index (negative counts from the end).
#[derive(Debug, PartialEq, Clone)]
pub enum Step {
    Key(String),
    Index(i64),
}

/// Parses a path: `a.b[0]`, `$.a.b[0]`, `[-1]`, `["key.with dots"]`; '' and '$' are the document.
/// A key segment runs to the next '.' or '['; a quoted key may escape `"` and `\` with `\`.
pub fn parse_path(path: &str) -> Result<Vec<Step>, String> {
    let b = path.as_bytes();
    let mut steps = Vec::new();
    let mut i = 0;
    if b.first() == Some(&b'$') {
        i = 1;
        if !matches!(b.get(1), None | Some(b'.' | b'[')) {
            return Err(format!("invalid JSON path '{path}': '$' must be followed by '.' or '['"));
        }
    }
    let msg = |what: &str| format!("invalid JSON path '{path}': {what}");
    let bad = |what: &str| Err(msg(what));
    let mut first = true;
    while i < b.len() {
        match b[i] {
            b'[' => {
                if b.get(i + 1) == Some(&b'"') {
                    let mut key = String::new();
                    let mut j = i + 2;
                    loop {
                        match b.get(j) {
                            None => return bad("unterminated quoted key"),
                            Some(b'"') => break,
                            Some(b'\\') if matches!(b.get(j + 1), Some(b'"' | b'\\')) => {
                                key.push(b[j + 1] as char);
                                j += 2;
                            }
                            Some(_) => {
                                let ch = path[j..].chars().next().unwrap_or('\u{fffd}');
                                key.push(ch);
                                j += ch.len_utf8();
                            }
                        }
                    }
                    if b.get(j + 1) != Some(&b']') {
                        return bad("expected ']' after a quoted key");
                    }
                    steps.push(Step::Key(key));
                    i = j + 2;
                } else {
                    let Some(close) = path[i..].find(']') else { return bad("unterminated '['") };
                    let inner = &path[i + 1..i + close];
                    let digits = inner.strip_prefix('-').unwrap_or(inner);
                    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                        return bad("an index must be an integer or a quoted key");
                    }
                    steps.push(Step::Index(inner.parse().map_err(|_| msg("index out of range"))?));
                    i += close + 1;
                }
            }
            c => {
                if c == b'.' {
                    i += 1;
                } else if !first {
                    return bad("expected '.' or '['");
                }
                let end = path[i..].find(['.', '[']).map_or(b.len(), |e| i + e);
                if end == i {
                    return bad("empty key");
                }
                steps.push(Step::Key(path[i..end].to_string()));
                i = end;
            }
        }
        first = false;
    }
    Ok(steps)
}

/// The offset of the value at `steps` in the document at offset 0, None when the path is absent
/// (a missing key, an index out of range, or a step into a value of another kind). An object
/// holding a key twice answers with its first member of that key. Bytes after the document's
/// value are an error.
pub fn lookup(b: &[u8], steps: &[Step]) -> Result<Option<usize>, BadBinary> {
    // The document is one value: bytes after it mean it is not json_parse's.
    if read(b, 0)?.1 != b.len() {
        return Err(BadBinary);
    }
    let mut at = 0;
    for step in steps {
        let (value, _) = read(b, at)?;
        at = match (step, value) {
            (Step::Key(key), Value::Object(count, mut p)) => {
                let mut found = None;
                for _ in 0..count {
                    let (k, v) = str_at(b, p)?;
                    if k == key {
                        found = Some(v);
                        break;
                    }
                    p = read(b, v)?.1;
                }
                match found {
                    Some(v) => v,
                    None => return Ok(None),
                }
            }
            (Step::Index(index), Value::Array(count, mut p)) => {
                let index = if *index < 0 { *index + count as i64 } else { *index };
                if index < 0 || index >= count as i64 {
                    return Ok(None);
                }
                for _ in 0..index {
                    p = read(b, p)?.1;
                }
                p
            }
            _ => return Ok(None),
        };
    }
    Ok(Some(at))
}

/// The keys of the object at `at` (duplicates included, in document order), None if not an object.
pub fn object_keys(b: &[u8], at: usize) -> Result<Option<Vec<&str>>, BadBinary> {
    let Value::Object(count, mut p) = read(b, at)?.0 else { return Ok(None) };
    let mut keys = Vec::with_capacity(count);
    for _ in 0..count {
        let (k, v) = str_at(b, p)?;
        keys.push(k);
        p = read(b, v)?.1;
    }
    Ok(Some(keys))
}

/// Appends `s` as a JSON string: `"` `\` and control characters escaped (`\n` `\r` `\t` `\b` `\f`,
/// others `\u00xx`), everything else as it is.
pub fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                out.push_str("\\u00");
                out.push(char::from_digit(c as u32 >> 4, 16).unwrap_or('0'));
                out.push(char::from_digit(c as u32 & 15, 16).unwrap_or('0'));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a float as JSON: Rust's shortest round-trip form (`1.0`, `0.1`, `1e16`, `1.5e-7`).
pub fn write_float(v: f64, out: &mut String) {
    use std::fmt::Write;
    let _ = write!(out, "{v:?}");
}

/// Appends the value at `at` as compact JSON text (no spaces; members in their stored order).
pub fn render(b: &[u8], at: usize, out: &mut String) -> Result<(), BadBinary> {
    use std::fmt::Write;
    // Open containers: elements left, whether an object.
    let mut stack: Vec<(usize, bool)> = Vec::new();
    let mut p = at;
    loop {
        let (value, next) = read(b, p)?;
        p = next;
        match value {
            Value::Null => out.push_str("null"),
            Value::Bool(v) => out.push_str(if v { "true" } else { "false" }),
            Value::Int(v) => {
                let _ = write!(out, "{v}");
            }
            Value::Float(v) => write_float(v, out),
            Value::Str(s) => write_str(s, out),
            Value::Array(count, first) | Value::Object(count, first) => {
                let obj = matches!(value, Value::Object(..));
                out.push(if obj { '{' } else { '[' });
                stack.push((count, obj));
                p = first;
            }
        }
        // Close finished containers, then write what precedes the next value.
        loop {
            let Some(top) = stack.last_mut() else { return Ok(()) };
            if top.0 == 0 {
                out.push(if top.1 { '}' } else { ']' });
                stack.pop();
                continue;
            }
            if !out.ends_with(['[', '{']) {
                out.push(',');
            }
            top.0 -= 1;
            if top.1 {
                let (key, v) = str_at(b, p)?;
                write_str(key, out);
                out.push(':');
                p = v;
            }
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bin(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        parse(text, &mut out).unwrap_or_else(|e| panic!("{text}: {e:?}"));
        out
    }

    fn roundtrip(text: &str) -> String {
        let mut s = String::new();
        render(&bin(text), 0, &mut s).unwrap();
        s
    }

    fn get(text: &str, path: &str) -> Option<String> {
        let b = bin(text);
        let at = lookup(&b, &parse_path(path).unwrap()).unwrap()?;
        let mut s = String::new();
        render(&b, at, &mut s).unwrap();
        Some(s)
    }

    #[test]
    fn renders_compact_json() {
        assert_eq!(
            roundtrip(" { \"a\" : [1, 2.5, true, false, null, \"x\"], \"b\": {} , \"c\":[]} "),
            r#"{"a":[1,2.5,true,false,null,"x"],"b":{},"c":[]}"#
        );
        assert_eq!(roundtrip("[[[]],[{}],{\"a\":{\"b\":[]}}]"), r#"[[[]],[{}],{"a":{"b":[]}}]"#);
        assert_eq!(roundtrip("1E2"), "100.0");
        assert_eq!(roundtrip("-0"), "0");
        assert_eq!(roundtrip("-0.0"), "-0.0");
        assert_eq!(roundtrip("1e16"), "1e16");
        assert_eq!(roundtrip("0.00001"), "1e-5");
        assert_eq!(roundtrip("9223372036854775807"), "9223372036854775807");
        assert_eq!(roundtrip("-9223372036854775808"), "-9223372036854775808");
        assert_eq!(roundtrip("9223372036854775808"), "9.223372036854776e18");
        assert_eq!(
            roundtrip(r#""a\"\\\/\b\f\n\r\t\u0001\u00e9\ud83d\ude00""#),
            "\"a\\\"\\\\/\\b\\f\\n\\r\\t\\u0001é😀\""
        );
        assert_eq!(roundtrip("\"é🙂\u{7f}\""), "\"é🙂\u{7f}\"");
        assert_eq!(roundtrip(r#"{"a":1,"a":2}"#), r#"{"a":1,"a":2}"#);
    }

    #[test]
    fn refuses_invalid_json() {
        for text in [
            "",
            " ",
            "{",
            "[",
            "[1,]",
            "{\"a\":1,}",
            "{a:1}",
            "01",
            "1.",
            ".5",
            "1e",
            "+1",
            "NaN",
            "Infinity",
            "tru",
            "nul",
            "[1 2]",
            "{\"a\" 1}",
            "\"abc",
            "\"\\x\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "\"a\u{1}\"",
            "1e400",
            "-1e400",
            "[1]]",
            "{}{}",
            "\u{feff}1",
            "[\"\\u12\"]",
            "'a'",
            "{\"a\":}",
        ] {
            let mut out = vec![9];
            assert!(parse(text, &mut out).is_err(), "{text:?} was accepted");
            assert_eq!(out, vec![9], "{text:?}");
        }
    }

    #[test]
    fn depth_is_limited_without_recursion() {
        let deep = |n| "[".repeat(n) + &"]".repeat(n);
        assert_eq!(roundtrip(&deep(MAX_DEPTH)), deep(MAX_DEPTH));
        let mut out = Vec::new();
        assert_eq!(parse(&deep(MAX_DEPTH + 1), &mut out).unwrap_err().what, "nested too deeply");
        // 100,000 levels: refused quickly, no stack overflow.
        assert!(parse(&"[".repeat(100_000), &mut out).is_err());
    }

    #[test]
    fn paths() {
        let doc = r#"{"a":{"b":[10,{"c":"x"},[1,2]]},"k.d":{"[x]":true},"a":5,"e":null}"#;
        assert_eq!(get(doc, "a.b[0]").as_deref(), Some("10"));
        assert_eq!(get(doc, "$.a.b[1].c").as_deref(), Some("\"x\""));
        assert_eq!(get(doc, "a.b[-1][1]").as_deref(), Some("2"));
        assert_eq!(get(doc, "a.b[-4]"), None);
        assert_eq!(get(doc, "a.b[3]"), None);
        assert_eq!(get(doc, "a.b.c"), None);
        assert_eq!(get(doc, "a.x"), None);
        assert_eq!(get(doc, "[\"k.d\"][\"[x]\"]").as_deref(), Some("true"));
        assert_eq!(get(doc, "$[\"k.d\"]").as_deref(), Some("{\"[x]\":true}"));
        assert_eq!(get(doc, "e").as_deref(), Some("null"));
        assert_eq!(get(doc, "$").as_deref().map(str::len), Some(doc.len()));
        assert_eq!(get(doc, "").as_deref().map(str::len), Some(doc.len()));
        assert_eq!(get("[1,2]", "[1]").as_deref(), Some("2"));
        assert_eq!(get("[1,2]", "$[0]").as_deref(), Some("1"));
        assert_eq!(get(r#"{"é":{"q\"":1}}"#, r#"é["q\""]"#).as_deref(), Some("1"));
        for bad in ["a..b", "a.", "[", "[x]", "[1", "$a", "a[\"b\"", "a[\"b\"x", "a b[0]x", "[]", "[-]"] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_path("a b").unwrap(), vec![Step::Key("a b".into())]);
    }

    #[test]
    fn keys_and_values() {
        let b = bin(r#"{"x":1,"y":[1,2,3],"x":2}"#);
        assert_eq!(object_keys(&b, 0).unwrap(), Some(vec!["x", "y", "x"]));
        assert_eq!(read(&b, lookup(&b, &parse_path("x").unwrap()).unwrap().unwrap()).unwrap().0, Value::Int(1));
        let y = lookup(&b, &parse_path("y").unwrap()).unwrap().unwrap();
        assert!(matches!(read(&b, y).unwrap().0, Value::Array(3, _)));
        assert_eq!(object_keys(&b, y).unwrap(), None);
    }

    #[test]
    fn bad_binary_is_an_error_not_a_panic() {
        let good = bin(r#"{"a":[1,"xyz",{"b":2.5}],"c":"d"}"#);
        let path = parse_path("a[2].b").unwrap();
        for cut in 0..good.len() {
            let b = &good[..cut];
            let _ = lookup(b, &path);
            let _ = render(b, 0, &mut String::new());
            let _ = object_keys(b, 0);
        }
        for i in 0..good.len() {
            for v in [0, 7, 9, 0x80, 0xff] {
                let mut b = good.clone();
                b[i] = v;
                let _ = lookup(&b, &path);
                let _ = render(&b, 0, &mut String::new());
            }
        }
        assert_eq!(render(&[42], 0, &mut String::new()), Err(BadBinary));
        assert_eq!(lookup(&[FALSE, 2], &[]), Err(BadBinary));
        assert_eq!(lookup(&[], &[]), Err(BadBinary));
        assert_eq!(render(&[STR, 2, 0, 0, 0, 0xff, 0xfe], 0, &mut String::new()), Err(BadBinary));
    }
}
