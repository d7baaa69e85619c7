//! A small strict JSON (RFC 8259) parser and compact writer, and the JSONPath subset of
//! `json_path`. Objects keep their keys in order; a repeated key keeps its first position and
//! its last value (like Python's `json.loads` into a dict).

use std::borrow::Cow;

/// Deeper nesting is an error (the recursion must not exhaust the guest's stack).
pub const MAX_DEPTH: usize = 512;

#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    /// the number's text as written (valid JSON number grammar)
    Num(&'a str),
    Str(Cow<'a, str>),
    Arr(Vec<Json<'a>>),
    Obj(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

pub struct Error {
    pub at: usize,
    pub what: &'static str,
}

struct Parser<'a> {
    text: &'a str,
    b: &'a [u8],
    at: usize,
}

pub fn parse(text: &str) -> Result<Json<'_>, Error> {
    let mut p = Parser { text, b: text.as_bytes(), at: 0 };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.at != p.b.len() {
        return Err(p.err("extra data after the value"));
    }
    Ok(v)
}

impl<'a> Parser<'a> {
    fn err(&self, what: &'static str) -> Error {
        Error { at: self.at, what }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.at) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn literal(&mut self, word: &'static str, v: Json<'a>) -> Result<Json<'a>, Error> {
        if self.b[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(v)
        } else {
            Err(self.err("expected a value"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json<'a>, Error> {
        match self.peek() {
            None => Err(self.err("unexpected end of the document")),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("expected a value")),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        self.at - start
    }

    fn number(&mut self) -> Result<Json<'a>, Error> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("expected a digit")),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return Err(self.err("expected a digit after the decimal point"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("expected a digit in the exponent"));
            }
        }
        Ok(Json::Num(&self.text[start..self.at]))
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err(self.err("invalid \\u escape")),
            };
            v = v * 16 + d as u32;
            self.at += 1;
        }
        Ok(v)
    }

    fn string(&mut self) -> Result<Cow<'a, str>, Error> {
        self.at += 1; // the opening quote
        let start = self.at;
        // fast path: no escapes
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    let s = &self.text[start..self.at];
                    self.at += 1;
                    return Ok(Cow::Borrowed(s));
                }
                Some(b'\\') => break,
                Some(c) if c < 0x20 => return Err(self.err("control character in a string")),
                Some(_) => self.at += 1,
            }
        }
        let mut out = String::from(&self.text[start..self.at]);
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.at += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.at += 1;
                    let c = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.at += 1;
                            let escape_at = self.at - 2;
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if !self.b[self.at..].starts_with(b"\\u") {
                                    return Err(Error { at: escape_at, what: "unpaired surrogate in a \\u escape" });
                                }
                                self.at += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(Error { at: escape_at, what: "unpaired surrogate in a \\u escape" });
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return Err(Error { at: escape_at, what: "unpaired surrogate in a \\u escape" });
                            } else {
                                hi
                            };
                            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                            continue;
                        }
                        _ => return Err(self.err("invalid escape")),
                    };
                    self.at += 1;
                    out.push(c);
                }
                Some(c) if c < 0x20 => return Err(self.err("control character in a string")),
                Some(_) => {
                    // copy a run of plain characters (whole UTF-8 sequences: they contain no ASCII)
                    let run = self.at;
                    while let Some(c) = self.peek() {
                        if c == b'"' || c == b'\\' || c < 0x20 {
                            break;
                        }
                        self.at += 1;
                    }
                    out.push_str(&self.text[run..self.at]);
                }
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json<'a>, Error> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        self.at += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Json::Arr(items));
        }
        loop {
            self.ws();
            items.push(self.value(depth)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Json::Arr(items));
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json<'a>, Error> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        self.at += 1;
        let mut fields: Vec<(Cow<'a, str>, Json<'a>)> = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Json::Obj(fields));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a string key"));
            }
            let key = self.string()?;
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':'"));
            }
            self.at += 1;
            self.ws();
            let value = self.value(depth)?;
            match fields.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => fields.push((key, value)),
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Json::Obj(fields));
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }
}

/// Compact JSON text (no spaces); strings escaped as JSON requires, other characters kept.
pub fn write(v: &Json<'_>, out: &mut String) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Num(n) => out.push_str(n),
        Json::Str(s) => write_str(s, out),
        Json::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Json::Obj(fields) => {
            out.push('{');
            for (i, (k, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(k, out);
                out.push(':');
                write(item, out);
            }
            out.push('}');
        }
    }
}

fn write_str(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                out.push_str("\\u00");
                out.push(HEX[(c as usize) >> 4] as char);
                out.push(HEX[(c as usize) & 15] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

// ---------------------------------------------------------------- JSONPath

/// A filter's literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Num(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Key(String),
    Index(usize),
    Wildcard,
    /// `[?(@.key==literal)]`
    Filter(String, Literal),
}

pub struct PathError {
    pub at: usize,
    pub what: &'static str,
}

struct PathParser<'a> {
    text: &'a str,
    b: &'a [u8],
    at: usize,
}

/// `$` then `.key`, `.*`, `['key']`, `["key"]`, `[n]`, `[*]`, `[?(@.key=='s')]`, `[?(@.key==n)]`.
/// Names after `.` are runs of ASCII letters, digits, `_`, `-`, `$` and non-ASCII characters;
/// quoted keys and strings take `\x` as the character x. Spaces are allowed inside brackets.
pub fn parse_path(text: &str) -> Result<Vec<Step>, PathError> {
    let mut p = PathParser { text, b: text.as_bytes(), at: 0 };
    if p.peek() != Some(b'$') {
        return Err(p.err("a path starts with '$'"));
    }
    p.at += 1;
    let mut steps = Vec::new();
    while let Some(c) = p.peek() {
        match c {
            b'.' => {
                p.at += 1;
                if p.peek() == Some(b'*') {
                    p.at += 1;
                    steps.push(Step::Wildcard);
                } else {
                    steps.push(Step::Key(p.name()?));
                }
            }
            b'[' => {
                p.at += 1;
                p.spaces();
                let step = match p.peek() {
                    Some(b'\'' | b'"') => Step::Key(p.quoted()?),
                    Some(b'*') => {
                        p.at += 1;
                        Step::Wildcard
                    }
                    Some(b'0'..=b'9') => Step::Index(p.index()?),
                    Some(b'?') => p.filter()?,
                    Some(b'-') => return Err(p.err("negative indexes are not supported")),
                    _ => return Err(p.err("expected a key, an index, '*' or a filter")),
                };
                p.spaces();
                p.expect(b']', "expected ']'")?;
                steps.push(step);
            }
            _ => return Err(p.err("expected '.' or '['")),
        }
    }
    Ok(steps)
}

impl PathParser<'_> {
    fn err(&self, what: &'static str) -> PathError {
        PathError { at: self.at, what }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
    }

    fn expect(&mut self, c: u8, what: &'static str) -> Result<(), PathError> {
        if self.peek() == Some(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    fn name(&mut self) -> Result<String, PathError> {
        let start = self.at;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'$' || c >= 0x80 {
                self.at += 1;
            } else {
                break;
            }
        }
        if self.at == start {
            return Err(self.err("expected a name"));
        }
        Ok(self.text[start..self.at].to_string())
    }

    fn quoted(&mut self) -> Result<String, PathError> {
        let quote = self.b[self.at];
        self.at += 1;
        let mut out = String::new();
        let mut chars = self.text[self.at..].char_indices();
        loop {
            match chars.next() {
                None => {
                    self.at = self.b.len();
                    return Err(self.err("unterminated string"));
                }
                Some((i, '\\')) => match chars.next() {
                    Some((_, c)) => out.push(c),
                    None => {
                        self.at += i + 1;
                        return Err(self.err("unterminated string"));
                    }
                },
                Some((i, c)) if c as u32 == quote as u32 => {
                    self.at += i + 1;
                    return Ok(out);
                }
                Some((_, c)) => out.push(c),
            }
        }
    }

    fn index(&mut self) -> Result<usize, PathError> {
        let start = self.at;
        let mut n: usize = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            n = match n.checked_mul(10).and_then(|n| n.checked_add((c - b'0') as usize)) {
                Some(n) => n,
                None => {
                    self.at = start;
                    return Err(self.err("index too large"));
                }
            };
            self.at += 1;
        }
        Ok(n)
    }

    fn number(&mut self) -> Result<f64, PathError> {
        let start = self.at;
        let bad = |p: &Self| p.err("invalid number");
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let int = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        if self.at == int || (self.b[int] == b'0' && self.at - int > 1) {
            return Err(bad(self));
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            let frac = self.at;
            while let Some(b'0'..=b'9') = self.peek() {
                self.at += 1;
            }
            if self.at == frac {
                return Err(bad(self));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            let exp = self.at;
            while let Some(b'0'..=b'9') = self.peek() {
                self.at += 1;
            }
            if self.at == exp {
                return Err(bad(self));
            }
        }
        self.text[start..self.at].parse::<f64>().map_err(|_| PathError { at: start, what: "invalid number" })
    }

    fn filter(&mut self) -> Result<Step, PathError> {
        self.at += 1; // '?'
        self.expect(b'(', "expected '(' after '?'")?;
        self.spaces();
        self.expect(b'@', "expected '@'")?;
        self.expect(b'.', "expected '.' after '@'")?;
        let key = self.name()?;
        self.spaces();
        if !self.b[self.at..].starts_with(b"==") {
            return Err(self.err("expected '=='"));
        }
        self.at += 2;
        self.spaces();
        let literal = match self.peek() {
            Some(b'\'' | b'"') => Literal::Str(self.quoted()?),
            Some(b'-' | b'0'..=b'9') => Literal::Num(self.number()?),
            _ => return Err(self.err("expected a string or a number")),
        };
        self.spaces();
        self.expect(b')', "expected ')'")?;
        Ok(Step::Filter(key, literal))
    }
}

fn matches(v: Option<&Json<'_>>, literal: &Literal) -> bool {
    match (v, literal) {
        (Some(Json::Str(s)), Literal::Str(l)) => s == l,
        (Some(Json::Num(n)), Literal::Num(l)) => n.parse::<f64>().is_ok_and(|n| n == *l),
        _ => false,
    }
}

/// Every match of `steps` in `root`, in document order.
pub fn select<'j, 'a>(root: &'j Json<'a>, steps: &[Step]) -> Vec<&'j Json<'a>> {
    let mut nodes = vec![root];
    for step in steps {
        let mut next = Vec::new();
        for node in nodes {
            match (step, node) {
                (Step::Key(k), Json::Obj(_)) => next.extend(node.get(k)),
                (Step::Index(i), Json::Arr(items)) => next.extend(items.get(*i)),
                (Step::Wildcard, Json::Arr(items)) => next.extend(items.iter()),
                (Step::Wildcard, Json::Obj(fields)) => next.extend(fields.iter().map(|(_, v)| v)),
                (Step::Filter(k, literal), Json::Arr(items)) => {
                    next.extend(items.iter().filter(|item| matches(item.get(k), literal)))
                }
                _ => {}
            }
        }
        nodes = next;
    }
    nodes
}
