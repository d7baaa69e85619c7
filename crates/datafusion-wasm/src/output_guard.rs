//! Functions whose output size is chosen by their arguments, refused before they allocate it.
//!
//! `repeat('x', 2000000000)` asks for 2 GB in one allocation. On wasm32 an allocation that memory
//! cannot grow to is Rust's allocation-failure abort: a trap that loses the instance, not an
//! error. The functions below (the ones in DataFusion 55 whose arguments set how much they
//! produce) are wrapped so that a call whose output would exceed `MAX_CALL_OUTPUT_BYTES` for one
//! batch fails with an execution error first. The estimate is an upper bound computed from the
//! arguments alone (no output is built); everything else is delegated to the wrapped function.

use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::compute::{cast, max, min};
use arrow::datatypes::{DataType, FieldRef, Int64Type};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

/// The most one call of a guarded function may produce for one batch. DataFusion's batches are
/// 8,192 rows; 256 MiB is 32 KiB per row, far above any sane string or list, and far below the
/// 4 GiB that wasm32 can address at all.
pub const MAX_CALL_OUTPUT_BYTES: u128 = 256 * 1024 * 1024;

/// The guarded functions by name, with how their output size follows from their arguments.
const GUARDED: [&str; 7] = ["repeat", "lpad", "rpad", "array_repeat", "array_resize", "range", "generate_series"];

/// `functions` with each guarded one wrapped (the others untouched).
pub fn guard_functions(functions: Vec<Arc<ScalarUDF>>) -> Vec<Arc<ScalarUDF>> {
    functions
        .into_iter()
        .map(|function| {
            if GUARDED.contains(&function.name()) {
                Arc::new(ScalarUDF::new_from_impl(OutputGuard { inner: function }))
            } else {
                function
            }
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct OutputGuard {
    inner: Arc<ScalarUDF>,
}

impl ScalarUDFImpl for OutputGuard {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.inner().return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.inner().return_field_from_args(args)
    }

    fn is_strict(&self) -> bool {
        self.inner.inner().is_strict()
    }

    fn short_circuits(&self) -> bool {
        self.inner.inner().short_circuits()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.inner().coerce_types(arg_types)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.inner().documentation()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let Some(bytes) = estimated_output_bytes(self.name(), &args.args, args.number_rows) {
            if bytes > MAX_CALL_OUTPUT_BYTES {
                return exec_err!(
                    "{}(...) would produce about {} MB for one batch of {} rows, more than the browser engine \
                     allows one function call ({} MB): wasm32 cannot allocate it. Use smaller arguments",
                    self.name(),
                    bytes / 1_000_000,
                    args.number_rows,
                    MAX_CALL_OUTPUT_BYTES / 1_000_000
                );
            }
        }
        self.inner.inner().invoke_with_args(args)
    }
}

/// An upper bound of the bytes `name` will produce, or None when it cannot be estimated (then the
/// call runs as before).
fn estimated_output_bytes(name: &str, args: &[ColumnarValue], rows: usize) -> Option<u128> {
    let rows = rows.max(1) as u128;
    let count = |i: usize| args.get(i).and_then(largest_int).map(|n| n.max(0) as u128);
    match name {
        // repeat(text, n): every row's text, n times.
        "repeat" => Some(content_bytes(args.first()?, rows) * count(1)?),
        // lpad/rpad(text, n [, fill]): n characters of at most 4 bytes.
        "lpad" | "rpad" => Some(rows * count(1)? * 4),
        // array_repeat(element, n): the element, n times.
        "array_repeat" => Some(content_bytes(args.first()?, rows).max(rows) * count(1)?),
        // array_resize(list, size [, value]): size elements of up to 16 bytes.
        "array_resize" => Some(rows * count(1)? * 16),
        // range / generate_series(start, stop [, step]) over integers: (stop - start) / step + 1 values.
        "range" | "generate_series" if args.len() >= 2 => {
            let start = smallest_int(&args[0])?;
            let stop = largest_int(&args[1])?;
            let step = match args.get(2) {
                Some(step) => smallest_abs_int(step)?.max(1),
                None => 1,
            };
            let values = (stop as i128 - start as i128).unsigned_abs() / step as u128 + 1;
            Some(rows * values * 8)
        }
        _ => None,
    }
}

/// Bytes of an argument's contents across the batch (a scalar counts once per row).
fn content_bytes(arg: &ColumnarValue, rows: u128) -> u128 {
    match arg {
        ColumnarValue::Scalar(value) => scalar_bytes(value) * rows,
        ColumnarValue::Array(array) => array.get_buffer_memory_size() as u128,
    }
}

fn scalar_bytes(value: &ScalarValue) -> u128 {
    match value {
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => {
            s.len() as u128
        }
        ScalarValue::Binary(Some(b)) | ScalarValue::LargeBinary(Some(b)) | ScalarValue::BinaryView(Some(b)) => {
            b.len() as u128
        }
        other => other.size() as u128,
    }
}

fn as_int64_array(arg: &ColumnarValue) -> Option<arrow::array::ArrayRef> {
    match arg {
        ColumnarValue::Array(array) if array.data_type().is_integer() => cast(array, &DataType::Int64).ok(),
        _ => None,
    }
}

fn scalar_int(arg: &ColumnarValue) -> Option<Option<i64>> {
    match arg {
        ColumnarValue::Scalar(value) if value.data_type().is_integer() || value.data_type().is_null() => {
            match value.cast_to(&DataType::Int64).ok()? {
                ScalarValue::Int64(v) => Some(v),
                _ => None,
            }
        }
        _ => None,
    }
}

fn largest_int(arg: &ColumnarValue) -> Option<i64> {
    if let Some(value) = scalar_int(arg) {
        return Some(value.unwrap_or(0));
    }
    let array = as_int64_array(arg)?;
    Some(max(array.as_primitive::<Int64Type>()).unwrap_or(0))
}

fn smallest_int(arg: &ColumnarValue) -> Option<i64> {
    if let Some(value) = scalar_int(arg) {
        return Some(value.unwrap_or(0));
    }
    let array = as_int64_array(arg)?;
    Some(min(array.as_primitive::<Int64Type>()).unwrap_or(0))
}

fn smallest_abs_int(arg: &ColumnarValue) -> Option<u64> {
    if let Some(value) = scalar_int(arg) {
        return Some(value.unwrap_or(1).unsigned_abs());
    }
    let array = as_int64_array(arg)?;
    let values = array.as_primitive::<Int64Type>();
    Some(values.iter().flatten().map(i64::unsigned_abs).min().unwrap_or(1))
}
