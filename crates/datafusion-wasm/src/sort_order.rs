//! Which columns of a table being registered are already sorted (issue 16).
//!
//! Tables often arrive sorted by a key or a time: TPC-H's lineitem by order key, an event log by
//! time. A MemTable that declares that order lets DataFusion aggregate a GROUP BY on the column
//! as a stream (each group is finished when the next key starts, so no hash table of every group
//! is kept), skip a sort for ORDER BY, and run windows partitioned by it without sorting. Nothing
//! is assumed: each column is checked, in every batch and across batch boundaries, when the
//! table is registered, and only a column that is non-decreasing and has no NULL is declared
//! (ascending, as DataFusion would sort it). An INSERT into the table drops the declaration
//! (DataFusion's MemTable does that itself).

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::compute::kernels::cmp::lt_eq;
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::Column;
use datafusion::logical_expr::{Expr, SortExpr};

/// One ascending sort order per column of `batches` that is non-decreasing with no NULL, for
/// `MemTable::with_sort_order`.
pub fn sorted_columns(schema: &SchemaRef, batches: &[RecordBatch]) -> Vec<Vec<SortExpr>> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let names: std::collections::HashSet<&String> = schema.fields().iter().map(|field| field.name()).collect();
    // A name twice would make the order ambiguous (and DataFusion refuses it when planning the scan).
    if rows < 2 || names.len() != schema.fields().len() {
        return Vec::new();
    }
    schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, field)| is_checked_type(field.data_type()))
        .filter(|(index, _)| is_non_decreasing(batches.iter().map(|batch| batch.column(*index))))
        .map(|(_, field)| vec![SortExpr::new(Expr::Column(Column::new_unqualified(field.name())), true, false)])
        .collect()
}

/// Integers, decimals, dates and timestamps: keys and times, whose order `lt_eq` and DataFusion's
/// sort agree on. (Floats have NaN and -0.0; strings are rarely stored sorted.)
fn is_checked_type(data_type: &DataType) -> bool {
    data_type.is_integer()
        || matches!(
            data_type,
            DataType::Decimal32(..)
                | DataType::Decimal64(..)
                | DataType::Decimal128(..)
                | DataType::Decimal256(..)
                | DataType::Date32
                | DataType::Date64
                | DataType::Timestamp(..)
        )
}

/// True when every value is <= the next, across the arrays, and none is NULL. Stops at the
/// first array that is not: an unsorted column costs one vectorized comparison of one batch.
fn is_non_decreasing<'a>(arrays: impl Iterator<Item = &'a ArrayRef>) -> bool {
    let mut previous: Option<ArrayRef> = None;
    for array in arrays {
        if array.is_empty() {
            continue;
        }
        if array.null_count() > 0 {
            return false;
        }
        let n = array.len();
        if n > 1 && !all_true(&lt_eq(&array.slice(0, n - 1), &array.slice(1, n - 1))) {
            return false;
        }
        if let Some(last) = &previous {
            if !all_true(&lt_eq(last, &array.slice(0, 1))) {
                return false;
            }
        }
        previous = Some(array.slice(n - 1, 1));
    }
    true
}

fn all_true(result: &Result<arrow::array::BooleanArray, arrow::error::ArrowError>) -> bool {
    matches!(result, Ok(mask) if mask.null_count() == 0 && mask.true_count() == mask.len())
}
