//! Built-in functions the engine adds to DataFusion's (issue 17, item 3): JSON, properties and
//! histograms, the same code natively and in wasm. Documented in docs/functions.md.
//!
//! The logic that needs no DataFusion (JSON parsing and paths, histogram arithmetic) is in
//! `json_core.rs` and `hist_core.rs`, each testable standalone with `rustc --test`. One
//! `ScalarUDFImpl` (`Func`) serves every scalar function, dispatching on its `Kind`: one trait
//! implementation instead of seventeen keeps the module small.

mod hist_core;
mod histogram;
mod json;
mod json_core;
mod properties;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef};
use arrow::datatypes::DataType;
use datafusion::common::{plan_err, Result, ScalarValue};
use datafusion::logical_expr::{
    AggregateUDF, ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// Every scalar function of this module.
#[derive(Debug, PartialEq, Eq, Hash, Clone, Copy)]
pub(crate) enum Kind {
    JsonParse,
    JsonValid,
    JsonGet,
    JsonGetStr,
    JsonGetInt,
    JsonGetFloat,
    JsonGetBool,
    JsonArrayLength,
    JsonObjectKeys,
    PropsGet,
    PropsToJson,
    PropsLen,
    HistQuantile,
    HistCount,
    HistSum,
    HistMin,
    HistMax,
}

const SCALARS: [(&str, Kind); 17] = [
    ("json_parse", Kind::JsonParse),
    ("json_valid", Kind::JsonValid),
    ("json_get", Kind::JsonGet),
    ("json_get_str", Kind::JsonGetStr),
    ("json_get_int", Kind::JsonGetInt),
    ("json_get_float", Kind::JsonGetFloat),
    ("json_get_bool", Kind::JsonGetBool),
    ("json_array_length", Kind::JsonArrayLength),
    ("json_object_keys", Kind::JsonObjectKeys),
    ("props_get", Kind::PropsGet),
    ("props_to_json", Kind::PropsToJson),
    ("props_len", Kind::PropsLen),
    ("histogram_quantile", Kind::HistQuantile),
    ("histogram_count", Kind::HistCount),
    ("histogram_sum", Kind::HistSum),
    ("histogram_min", Kind::HistMin),
    ("histogram_max", Kind::HistMax),
];

/// The scalar functions to register in every session.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    SCALARS
        .iter()
        .map(|&(name, kind)| {
            Arc::new(ScalarUDF::new_from_impl(Func {
                name,
                kind,
                signature: Signature::user_defined(Volatility::Immutable),
            }))
        })
        .collect()
}

/// The aggregate functions to register in every session.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    histogram::aggregate_functions()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Func {
    name: &'static str,
    kind: Kind,
    signature: Signature,
}

impl ScalarUDFImpl for Func {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name;
        match self.kind {
            Kind::PropsGet | Kind::PropsToJson | Kind::PropsLen => properties::coerce(name, self.kind, types),
            Kind::HistQuantile | Kind::HistCount | Kind::HistSum | Kind::HistMin | Kind::HistMax => {
                histogram::coerce_reader(name, self.kind, types)
            }
            _ => json::coerce(name, self.kind, types),
        }
    }

    fn return_type(&self, _types: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::JsonParse => DataType::Binary,
            Kind::JsonValid | Kind::JsonGetBool => DataType::Boolean,
            Kind::JsonGet | Kind::JsonGetStr | Kind::PropsGet | Kind::PropsToJson => DataType::Utf8,
            Kind::JsonGetInt | Kind::JsonArrayLength | Kind::PropsLen | Kind::HistCount => DataType::Int64,
            Kind::JsonGetFloat | Kind::HistQuantile | Kind::HistSum | Kind::HistMin | Kind::HistMax => {
                DataType::Float64
            }
            Kind::JsonObjectKeys => DataType::new_list(DataType::Utf8, true),
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let name = self.name;
        let out = match self.kind {
            Kind::PropsGet | Kind::PropsToJson | Kind::PropsLen => properties::invoke(name, self.kind, &arrays)?,
            Kind::HistQuantile | Kind::HistCount | Kind::HistSum | Kind::HistMin | Kind::HistMax => {
                histogram::invoke_reader(name, self.kind, &arrays)?
            }
            _ => json::invoke(name, self.kind, &arrays)?,
        };
        Ok(if scalar && out.len() == 1 {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
        } else {
            ColumnarValue::Array(out)
        })
    }
}

/// Checks the argument count: `min..=max` arguments, described as `args` in the error.
pub(crate) fn arity(name: &str, types: &[DataType], min: usize, max: usize, args: &str) -> Result<()> {
    if types.len() < min || types.len() > max {
        let n = if min == max { min.to_string() } else { format!("{min} or {max}") };
        return plan_err!("{name}({args}) takes {n} arguments, got {}", types.len());
    }
    Ok(())
}

/// Text arguments (any string type, or NULL) as Utf8; anything else is a planning error.
pub(crate) fn text_type(name: &str, what: &str, t: &DataType) -> Result<DataType> {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => Ok(DataType::Utf8),
        DataType::Dictionary(_, v) if v.is_string() => Ok(DataType::Utf8),
        _ => plan_err!("{name}: {what} must be a string, got {t}"),
    }
}

/// The arrays' row count (they all have one).
pub(crate) fn rows(arrays: &[ArrayRef]) -> usize {
    arrays.first().map_or(0, |a| a.len())
}
