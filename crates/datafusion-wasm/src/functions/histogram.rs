//! Histograms in SQL (docs/functions.md): the aggregates `histogram(value, lo, hi, bins)` and
//! `histogram_merge(h)`, and the readers `histogram_quantile/count/sum/min/max(h)`. A histogram
//! is a struct (`hist_type`); the arithmetic is `hist_core`'s.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Float64Builder, Int64Array, Int64Builder, ListArray, StructArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Fields, Float64Type, Int64Type};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility};

use super::hist_core::Hist;
use super::{arity, rows, Kind};

const FIELDS: [&str; 9] = ["lo", "hi", "counts", "underflow", "overflow", "count", "sum", "min", "max"];

/// Struct<lo, hi: Float64, counts: List<Int64>, underflow, overflow, count: Int64, sum, min, max: Float64>.
pub(super) fn hist_type() -> DataType {
    let fields: Fields = FIELDS
        .iter()
        .map(|&name| {
            let t = match name {
                "counts" => DataType::new_list(DataType::Int64, true),
                "underflow" | "overflow" | "count" => DataType::Int64,
                _ => DataType::Float64,
            };
            Field::new(name, t, true)
        })
        .collect();
    DataType::Struct(fields)
}

/// A histogram argument: a struct with the histogram's field names in order is cast to `hist_type`.
fn hist_arg(name: &str, t: &DataType) -> Result<DataType> {
    match t {
        DataType::Struct(fields) if fields.iter().map(|f| f.name().as_str()).eq(FIELDS) => Ok(hist_type()),
        DataType::Null => Ok(hist_type()),
        t => plan_err!("{name}: the argument must be a histogram (the struct histogram() returns), got {t}"),
    }
}

fn number(name: &str, what: &str, t: &DataType, to: DataType) -> Result<DataType> {
    if t.is_numeric() || t.is_null() {
        Ok(to)
    } else {
        plan_err!("{name}: {what} must be a number, got {t}")
    }
}

fn to_array(hists: &[Option<Hist>]) -> ArrayRef {
    let DataType::Struct(fields) = hist_type() else { unreachable!("a struct") };
    let f64s = |f: &dyn Fn(&Hist) -> Option<f64>| -> ArrayRef {
        Arc::new(hists.iter().map(|h| h.as_ref().and_then(f)).collect::<Float64Array>())
    };
    let i64s = |f: &dyn Fn(&Hist) -> i64| -> ArrayRef {
        Arc::new(hists.iter().map(|h| h.as_ref().map(f)).collect::<Int64Array>())
    };
    let counts = ListArray::new(
        Arc::new(Field::new_list_field(DataType::Int64, true)),
        OffsetBuffer::from_lengths(hists.iter().map(|h| h.as_ref().map_or(0, |h| h.counts.len()))),
        Arc::new(Int64Array::from_iter_values(hists.iter().flatten().flat_map(|h| h.counts.iter().copied()))),
        None,
    );
    let empty = |h: &Hist, v: f64| (h.count > 0).then_some(v);
    let columns = vec![
        f64s(&|h| Some(h.lo)),
        f64s(&|h| Some(h.hi)),
        Arc::new(counts) as ArrayRef,
        i64s(&|h| h.underflow),
        i64s(&|h| h.overflow),
        i64s(&|h| h.count),
        f64s(&|h| Some(h.sum)),
        f64s(&|h| empty(h, h.min)),
        f64s(&|h| empty(h, h.max)),
    ];
    let nulls = hists.iter().map(Option::is_some).collect::<Vec<_>>();
    Arc::new(StructArray::new(fields, columns, Some(nulls.into())))
}

/// Row `i` of a histogram column (None when NULL); a struct that is not a histogram is an error.
fn hist_at(name: &str, s: &StructArray, i: usize) -> Result<Option<Hist>> {
    if s.is_null(i) {
        return Ok(None);
    }
    let f = |c: usize| s.column(c).as_primitive::<Float64Type>();
    let n = |c: usize| s.column(c).as_primitive::<Int64Type>();
    let counts = s.column(2).as_list::<i32>();
    let fields_valid = (0..7).all(|c| s.column(c).is_valid(i));
    let hist = fields_valid.then(|| {
        let mut h = Hist::new(f(0).value(i), f(1).value(i), counts.value_length(i) as i64).ok()?;
        let values = counts.value(i);
        let values = values.as_primitive::<Int64Type>();
        if values.null_count() > 0 || values.values().iter().any(|&c| c < 0) {
            return None;
        }
        h.counts.copy_from_slice(values.values());
        (h.underflow, h.overflow, h.count, h.sum) = (n(3).value(i), n(4).value(i), n(5).value(i), f(6).value(i));
        if h.count > 0 {
            (h.min, h.max) = (f(7).value(i), f(8).value(i));
        }
        (h.underflow >= 0 && h.overflow >= 0 && h.count >= 0).then_some(h)
    });
    match hist.flatten() {
        Some(h) => Ok(Some(h)),
        None => exec_err!("{name}: row {} is not a valid histogram", i + 1),
    }
}

pub(super) fn coerce_reader(name: &str, kind: Kind, types: &[DataType]) -> Result<Vec<DataType>> {
    if kind == Kind::HistQuantile {
        arity(name, types, 2, 2, "histogram, q")?;
        Ok(vec![hist_arg(name, &types[0])?, number(name, "q", &types[1], DataType::Float64)?])
    } else {
        arity(name, types, 1, 1, "histogram")?;
        Ok(vec![hist_arg(name, &types[0])?])
    }
}

pub(super) fn invoke_reader(name: &str, kind: Kind, args: &[ArrayRef]) -> Result<ArrayRef> {
    let s = args[0].as_struct();
    let mut floats = Float64Builder::new();
    let mut ints = Int64Builder::new();
    for i in 0..rows(args) {
        let h = hist_at(name, s, i)?;
        let Some(h) = h.filter(|_| args.iter().all(|a| a.is_valid(i))) else {
            floats.append_null();
            ints.append_null();
            continue;
        };
        let some = |v: f64| (h.count > 0).then_some(v);
        floats.append_option(match kind {
            Kind::HistQuantile => {
                let q = args[1].as_primitive::<Float64Type>().value(i);
                h.quantile(q).or_else(|e| exec_err!("{name}: {e}"))?
            }
            Kind::HistSum => Some(h.sum),
            Kind::HistMin => some(h.min),
            Kind::HistMax => some(h.max),
            _ => None,
        });
        ints.append_value(h.count);
    }
    Ok(if kind == Kind::HistCount { Arc::new(ints.finish()) } else { Arc::new(floats.finish()) })
}

// ------------------------------------------------------------------------------------ aggregates

pub(super) fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    [false, true]
        .into_iter()
        .map(|merge| {
            Arc::new(AggregateUDF::new_from_impl(HistAgg {
                merge,
                signature: Signature::user_defined(Volatility::Immutable),
            }))
        })
        .collect()
}

fn agg_name(merge: bool) -> &'static str {
    if merge {
        "histogram_merge"
    } else {
        "histogram"
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct HistAgg {
    merge: bool,
    signature: Signature,
}

impl AggregateUDFImpl for HistAgg {
    fn name(&self) -> &str {
        agg_name(self.merge)
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name();
        if self.merge {
            arity(name, types, 1, 1, "histogram")?;
            return Ok(vec![hist_arg(name, &types[0])?]);
        }
        arity(name, types, 4, 4, "value, lo, hi, bins")?;
        let bins = &types[3];
        if !(bins.is_integer() || bins.is_null()) {
            return plan_err!("{name}: bins must be an integer, got {bins}");
        }
        Ok(vec![
            number(name, "the value", &types[0], DataType::Float64)?,
            number(name, "lo", &types[1], DataType::Float64)?,
            number(name, "hi", &types[2], DataType::Float64)?,
            DataType::Int64,
        ])
    }

    fn return_type(&self, _types: &[DataType]) -> Result<DataType> {
        Ok(hist_type())
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(HistAcc { name: agg_name(self.merge), merge: self.merge, hist: None }))
    }
}

#[derive(Debug)]
struct HistAcc {
    name: &'static str,
    merge: bool,
    hist: Option<Hist>,
}

impl HistAcc {
    fn merge_column(&mut self, column: &ArrayRef) -> Result<()> {
        let s = column.as_struct();
        for i in 0..s.len() {
            if let Some(h) = hist_at(self.name, s, i)? {
                match &mut self.hist {
                    Some(mine) => mine.merge(&h).or_else(|e| exec_err!("{}: {e}", self.name))?,
                    None => self.hist = Some(h),
                }
            }
        }
        Ok(())
    }
}

impl Accumulator for HistAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        if self.merge {
            return self.merge_column(&values[0]);
        }
        let name = self.name;
        let v = values[0].as_primitive::<Float64Type>();
        let (lo, hi) = (values[1].as_primitive::<Float64Type>(), values[2].as_primitive::<Float64Type>());
        let bins = values[3].as_primitive::<Int64Type>();
        for i in 0..v.len() {
            if lo.is_null(i) || hi.is_null(i) || bins.is_null(i) {
                return exec_err!("{name}: lo, hi and bins must not be NULL");
            }
            let (l, h, b) = (lo.value(i), hi.value(i), bins.value(i));
            let hist = match &mut self.hist {
                Some(hist) if hist.same_shape(l, h, b as usize) && b > 0 => hist,
                Some(_) => return exec_err!("{name}: lo, hi and bins must be the same on every row of a group"),
                None => self.hist.insert(Hist::new(l, h, b).or_else(|e| exec_err!("{name}: {e}"))?),
            };
            if v.is_valid(i) {
                hist.add(v.value(i));
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        ScalarValue::try_from_array(&to_array(std::slice::from_ref(&self.hist)), 0)
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.hist.as_ref().map_or(0, |h| h.counts.len() * 8)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.evaluate()?])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.merge_column(&states[0])
    }
}
