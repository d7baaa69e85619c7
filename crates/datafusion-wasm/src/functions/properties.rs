//! Properties: key/value lists as logging and telemetry systems write them (docs/functions.md):
//! List<Struct<key, value>> (or LargeList, or Map), keys and values of any string type (other
//! types are cast to text). The struct's fields named `key` and `value` are used, else its first two.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Builder, StringArray, StringBuilder, StructArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field};
use datafusion::common::{exec_err, plan_err, Result};

use super::json_core::write_str;
use super::{arity, rows, text_type, Kind};

fn entry_struct(t: &DataType) -> bool {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::Map(f, _) => {
            matches!(f.data_type(), DataType::Struct(fields) if fields.len() >= 2)
        }
        _ => false,
    }
}

pub(super) fn coerce(name: &str, kind: Kind, types: &[DataType]) -> Result<Vec<DataType>> {
    if kind == Kind::PropsGet {
        arity(name, types, 2, 2, "properties, key")?;
    } else {
        arity(name, types, 1, 1, "properties")?;
    }
    let mut out = vec![match &types[0] {
        t if entry_struct(t) => t.clone(),
        // NULL as List<Struct<key: Utf8, value: Utf8>> (coercion must give a type it accepts again).
        DataType::Null => {
            let fields = ["key", "value"].map(|name| Arc::new(Field::new(name, DataType::Utf8, true)));
            DataType::new_list(DataType::Struct(fields.into()), true)
        }
        t => return plan_err!("{name}: properties must be a list of key/value structs (or a map), got {t}"),
    }];
    if let Some(key) = types.get(1) {
        out.push(text_type(name, "the key", key)?);
    }
    Ok(out)
}

/// A column of property lists: per row an entry range; the keys and values as text.
struct Props {
    offsets: Vec<usize>,
    entries: Option<StructArray>,
    keys: StringArray,
    values: StringArray,
}

fn props(name: &str, array: &ArrayRef) -> Result<Props> {
    let (offsets, entries): (Vec<usize>, Option<StructArray>) = match array.data_type() {
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            (list.offsets().iter().map(|&o| o as usize).collect(), list.values().as_struct_opt().cloned())
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>();
            (list.offsets().iter().map(|&o| o as usize).collect(), list.values().as_struct_opt().cloned())
        }
        DataType::Map(..) => {
            let map = array.as_map();
            (map.offsets().iter().map(|&o| o as usize).collect(), Some(map.entries().clone()))
        }
        t => return exec_err!("{name}: unexpected argument type {t}"),
    };
    let text = |column: Option<&ArrayRef>| -> Result<StringArray> {
        match column {
            Some(c) => Ok(cast(c, &DataType::Utf8)?.as_string::<i32>().clone()),
            None => Ok(StringArray::new_null(0)),
        }
    };
    let column = |field: &str, index: usize| {
        let s = entries.as_ref()?;
        s.column_by_name(field).or_else(|| s.columns().get(index))
    };
    let keys = text(column("key", 0))?;
    let values = text(column("value", 1))?;
    Ok(Props { offsets, entries, keys, values })
}

pub(super) fn invoke(name: &str, kind: Kind, args: &[ArrayRef]) -> Result<ArrayRef> {
    let n = rows(args);
    let p = props(name, &args[0])?;
    let wanted = args.get(1).map(|k| k.as_string::<i32>());
    let mut strings = StringBuilder::new();
    let mut lengths = Int64Builder::new();
    let mut json = String::new();
    for i in 0..n {
        if args.iter().any(|a| a.is_null(i)) {
            strings.append_null();
            lengths.append_null();
            continue;
        }
        let (start, end) = (p.offsets[i], p.offsets[i + 1]);
        // The entries with a key: (key, value or None).
        let entries = (start..end).filter_map(|j| {
            let absent = p.entries.as_ref().is_none_or(|s| s.is_null(j)) || p.keys.is_null(j);
            (!absent).then(|| (p.keys.value(j), p.values.is_valid(j).then(|| p.values.value(j))))
        });
        match kind {
            Kind::PropsLen => lengths.append_value((end - start) as i64),
            Kind::PropsGet => {
                let key = wanted.map_or("", |w| w.value(i));
                match entries.into_iter().find(|(k, _)| *k == key) {
                    Some((_, Some(v))) => strings.append_value(v),
                    _ => strings.append_null(),
                }
            }
            _ => {
                json.clear();
                json.push('{');
                for (k, v) in entries {
                    if json.len() > 1 {
                        json.push(',');
                    }
                    write_str(k, &mut json);
                    json.push(':');
                    match v {
                        Some(v) => write_str(v, &mut json),
                        None => json.push_str("null"),
                    }
                }
                json.push('}');
                strings.append_value(&json);
            }
        }
    }
    Ok(if kind == Kind::PropsLen { Arc::new(lengths.finish()) } else { Arc::new(strings.finish()) })
}
