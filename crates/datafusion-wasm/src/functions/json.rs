//! The JSON functions over arrays (docs/functions.md): the document is JSON text (parsed per
//! row, invalid text is NULL) or `json_parse`'s binary form (read in place, no parsing; bytes it
//! cannot have written are an error).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, StringBuilder,
};
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, plan_err, Result};

use super::json_core::{self as core, Step, Value};
use super::{arity, rows, text_type, Kind};

/// Arguments: the document (text as Utf8, binary as Binary) and the path (Utf8).
pub(super) fn coerce(name: &str, kind: Kind, types: &[DataType]) -> Result<Vec<DataType>> {
    let (min, max, args) = match kind {
        Kind::JsonParse | Kind::JsonValid => (1, 1, "text"),
        Kind::JsonArrayLength | Kind::JsonObjectKeys => (1, 2, "json [, path]"),
        _ => (2, 2, "json, path"),
    };
    arity(name, types, min, max, args)?;
    let doc = match (&types[0], kind) {
        (_, Kind::JsonParse | Kind::JsonValid) => text_type(name, "the argument", &types[0])?,
        (DataType::Binary | DataType::LargeBinary | DataType::BinaryView, _) => DataType::Binary,
        (t, _) => match text_type(name, "", t) {
            Ok(t) => t,
            Err(_) => return plan_err!("{name}: the document must be JSON text or json_parse's binary, got {t}"),
        },
    };
    let mut out = vec![doc];
    if let Some(path) = types.get(1) {
        out.push(text_type(name, "the path", path)?);
    }
    Ok(out)
}

enum Out {
    Bin(BinaryBuilder),
    Bool(BooleanBuilder),
    Str(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Keys(ListBuilder<StringBuilder>),
}

impl Out {
    fn null(&mut self) {
        match self {
            Out::Bin(b) => b.append_null(),
            Out::Bool(b) => b.append_null(),
            Out::Str(b) => b.append_null(),
            Out::Int(b) => b.append_null(),
            Out::Float(b) => b.append_null(),
            Out::Keys(b) => b.append_null(),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            Out::Bin(mut b) => Arc::new(b.finish()),
            Out::Bool(mut b) => Arc::new(b.finish()),
            Out::Str(mut b) => Arc::new(b.finish()),
            Out::Int(mut b) => Arc::new(b.finish()),
            Out::Float(mut b) => Arc::new(b.finish()),
            Out::Keys(mut b) => Arc::new(b.finish()),
        }
    }
}

pub(super) fn invoke(name: &str, kind: Kind, args: &[ArrayRef]) -> Result<ArrayRef> {
    let n = rows(args);
    let mut out = match kind {
        Kind::JsonParse => Out::Bin(BinaryBuilder::with_capacity(n, 0)),
        Kind::JsonValid | Kind::JsonGetBool => Out::Bool(BooleanBuilder::with_capacity(n)),
        Kind::JsonGet | Kind::JsonGetStr => Out::Str(StringBuilder::with_capacity(n, 0)),
        Kind::JsonGetInt | Kind::JsonArrayLength => Out::Int(Int64Builder::with_capacity(n)),
        Kind::JsonGetFloat => Out::Float(Float64Builder::with_capacity(n)),
        _ => Out::Keys(ListBuilder::new(StringBuilder::new())),
    };
    let text = args[0].as_string_opt::<i32>();
    let binary = args[0].as_binary_opt::<i32>();
    let paths = args.get(1).map(|p| p.as_string::<i32>());
    let mut parsed = Vec::new();
    let mut path: (Option<String>, Vec<Step>) = (None, Vec::new());
    let mut rendered = String::new();
    for i in 0..n {
        if args.iter().any(|a| a.is_null(i)) {
            out.null();
            continue;
        }
        // The path first: an invalid one is an error whatever the document.
        if let Some(paths) = paths {
            let p = paths.value(i);
            if path.0.as_deref() != Some(p) {
                path = (Some(p.to_string()), core::parse_path(p).or_else(|e| exec_err!("{name}: {e}"))?);
            }
        }
        // The document's binary form: json_parse's, or parsed from the text now.
        let doc: &[u8] = match (text, binary) {
            (Some(text), _) => {
                parsed.clear();
                let valid = core::parse(text.value(i), &mut parsed).is_ok();
                match &mut out {
                    Out::Bool(b) if kind == Kind::JsonValid => {
                        b.append_value(valid);
                        continue;
                    }
                    Out::Bin(b) if valid => {
                        b.append_value(&parsed);
                        continue;
                    }
                    _ if !valid => {
                        out.null();
                        continue;
                    }
                    _ => &parsed,
                }
            }
            (None, Some(binary)) => binary.value(i),
            (None, None) => return exec_err!("{name}: unexpected argument type {}", args[0].data_type()),
        };
        let bad = || exec_err!("{name}: row {}: the binary value is not one json_parse wrote", i + 1);
        let Ok(at) = core::lookup(doc, &path.1) else { return bad() };
        let Some(at) = at else {
            out.null();
            continue;
        };
        let Ok((value, _)) = core::read(doc, at) else { return bad() };
        match (&mut out, value) {
            (Out::Str(b), _) if kind == Kind::JsonGet => {
                rendered.clear();
                if core::render(doc, at, &mut rendered).is_err() {
                    return bad();
                }
                b.append_value(&rendered);
            }
            (Out::Str(b), Value::Str(s)) => b.append_value(s),
            (Out::Int(b), Value::Int(v)) if kind == Kind::JsonGetInt => b.append_value(v),
            (Out::Int(b), Value::Array(count, _)) if kind == Kind::JsonArrayLength => b.append_value(count as i64),
            (Out::Float(b), Value::Int(v)) => b.append_value(v as f64),
            (Out::Float(b), Value::Float(v)) => b.append_value(v),
            (Out::Bool(b), Value::Bool(v)) => b.append_value(v),
            (Out::Keys(b), Value::Object(..)) => {
                let Ok(Some(keys)) = core::object_keys(doc, at) else { return bad() };
                for key in keys {
                    b.values().append_value(key);
                }
                b.append(true);
            }
            (out, _) => out.null(),
        }
    }
    Ok(out.finish())
}
