//! The order of a filter's conjuncts (issue 16): cheap comparisons first.
//!
//! DataFusion evaluates `A AND B AND C` left to right, and once `A` has dropped most rows it
//! evaluates `B` only on the rows left (`pre_selection_scatter`). So the first conjunct runs on
//! every row. TPC-H q12 writes `l_shipmode IN ('FOB', 'SHIP')` first: two string comparisons on
//! each of lineitem's 6M rows, before the date range that keeps one row in seven.
//!
//! The rule moves the conjuncts that are cheap to the front, keeping the order within each
//! group. Cheap: comparisons, BETWEEN, IN lists of literals, IS [NOT] NULL, and NOT/AND/OR of
//! those, over columns and literals of number, decimal, date, time, timestamp, interval or
//! boolean type. None of them can fail, so moving them first cannot raise an error the query's
//! order would not: every other conjunct now sees a subset of the rows it saw. A filter with a
//! volatile conjunct (`random()`) is left as written. The order of a conjunction does not change
//! its result, so there is no setting to turn this off.

use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::{Between, BinaryExpr, InList};
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{Expr, ExprSchemable, Filter, LogicalPlan, Operator};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// `rules` with [`CheapConjunctsFirst`] at the end, after every rule that moves or simplifies filters.
pub fn with_rule(mut rules: Vec<Arc<dyn OptimizerRule + Send + Sync>>) -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
    rules.push(Arc::new(CheapConjunctsFirst));
    rules
}

/// The rule. See the module documentation.
#[derive(Debug, Default)]
pub struct CheapConjunctsFirst;

impl OptimizerRule for CheapConjunctsFirst {
    fn name(&self) -> &str {
        "cheap_conjuncts_first"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(&self, plan: LogicalPlan, _config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Filter(filter) = plan else {
            return Ok(Transformed::no(plan));
        };
        match reordered(&filter.predicate, filter.input.schema()) {
            Some(predicate) => Ok(Transformed::yes(LogicalPlan::Filter(Filter::try_new(predicate, filter.input)?))),
            None => Ok(Transformed::no(LogicalPlan::Filter(filter))),
        }
    }
}

/// The predicate with its cheap conjuncts first, or None if that is the order it has already
/// (or it has a volatile conjunct).
fn reordered(predicate: &Expr, schema: &DFSchema) -> Option<Expr> {
    let conjuncts = split_conjunction(predicate);
    if conjuncts.len() < 2 || conjuncts.iter().any(|conjunct| conjunct.is_volatile()) {
        return None;
    }
    let cheap: Vec<bool> = conjuncts.iter().map(|conjunct| is_cheap(conjunct, schema)).collect();
    // Already in order: no cheap conjunct after an expensive one.
    if cheap.windows(2).all(|pair| pair[0] || !pair[1]) {
        return None;
    }
    let (first, rest): (Vec<_>, Vec<_>) = conjuncts.iter().zip(&cheap).partition(|(_, cheap)| **cheap);
    conjunction(first.into_iter().chain(rest).map(|(conjunct, _)| (*conjunct).clone()))
}

/// True for a predicate that cannot fail and costs a few instructions per row (module docs).
fn is_cheap(expr: &Expr, schema: &DFSchema) -> bool {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
            | Operator::IsDistinctFrom
            | Operator::IsNotDistinctFrom => {
                is_fixed_width_operand(left, schema) && is_fixed_width_operand(right, schema)
            }
            Operator::And | Operator::Or => is_cheap(left, schema) && is_cheap(right, schema),
            _ => false,
        },
        Expr::Between(Between { expr, low, high, .. }) => {
            [expr, low, high].iter().all(|operand| is_fixed_width_operand(operand, schema))
        }
        Expr::InList(InList { expr, list, .. }) => {
            is_fixed_width_operand(expr, schema) && list.iter().all(|item| matches!(item, Expr::Literal(..)))
        }
        Expr::IsNull(operand) | Expr::IsNotNull(operand) => matches!(operand.as_ref(), Expr::Column(_)),
        Expr::Not(operand) => is_cheap(operand, schema),
        _ => false,
    }
}

/// A column or a literal of a fixed-width type (no strings, binaries, lists or structs).
fn is_fixed_width_operand(expr: &Expr, schema: &DFSchema) -> bool {
    matches!(expr, Expr::Column(_) | Expr::Literal(..))
        && expr.get_type(schema).is_ok_and(|data_type| {
            data_type.is_primitive() || data_type.is_null() || data_type == arrow::datatypes::DataType::Boolean
        })
}
