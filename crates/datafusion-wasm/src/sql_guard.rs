//! Limits checked on a parsed statement before DataFusion plans it.
//!
//! Why: on wasm32 Rust's stack lives in linear memory with no guard page, and the browser's own
//! call stack is about 1 MB. DataFusion's analyzer, optimizer and physical planner recurse once
//! per level of an expression or a set operation, so `1+1+...` with 600 terms, an AND chain of
//! 1,000 predicates or 1,000 UNION ALLs overflowed one of the two stacks: a trap
//! ("memory access out of bounds" or "Maximum call stack size exceeded") that left the instance
//! corrupted. The parser itself is iterative for left-associative chains, so such statements parse
//! fine and only die later. Measuring the parsed tree first turns them into an error.
//!
//! The limits are set with a margin below the depths measured to run in Chromium and Firefox
//! (tests/browser/test_survival.py runs every limit at the limit and one past it).

use std::ops::ControlFlow;

use datafusion::sql::parser::{CopyToSource, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{Expr, Query, SetExpr, Visit, Visitor};

/// Deepest expression tree: `a + b + c` is depth 3 (plus 1 for each operand level).
pub const MAX_EXPRESSION_DEPTH: usize = 256;
/// Longest chain of set operations (UNION / INTERSECT / EXCEPT) in one query body.
pub const MAX_SET_OPERATIONS: usize = 256;
/// Deepest nesting of queries (subqueries, derived tables, CTE bodies inside each other).
pub const MAX_QUERY_DEPTH: usize = 64;
/// Most common table expressions in one WITH clause.
pub const MAX_CTES: usize = 256;
/// The highest `datafusion.sql_parser.recursion_limit` a statement may SET. The parser checks its
/// limit itself, but it recurses on the browser's stack before anything here runs: measured in
/// Chromium, 1,000 levels of parentheses parsed and 5,000 overflowed the stack (a trap). The
/// default is 50; this leaves room to raise it without reaching the overflow.
pub const MAX_PARSER_RECURSION: usize = 500;

/// The statement exceeds a limit: what, how much, the limit.
#[derive(Debug, PartialEq, Eq)]
pub struct TooDeep {
    pub what: &'static str,
    pub found: usize,
    pub limit: usize,
}

impl std::fmt::Display for TooDeep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the statement is nested too deeply for the browser's stack: {} is {}{} (the engine's limit is {}); \
             split it (e.g. register intermediate results with execute_and_register) or use a flat form \
             (IN (...) instead of OR chains, a VALUES list instead of UNION ALL of literals)",
            self.what,
            if self.found > self.limit { "over " } else { "" },
            self.found,
            self.limit
        )
    }
}

/// Checks a parsed statement against the limits above.
pub fn check_statement(statement: &DFStatement) -> Result<(), TooDeep> {
    match statement {
        DFStatement::Statement(inner) => check_tree(inner.as_ref()),
        DFStatement::Explain(explain) => check_statement(&explain.statement),
        DFStatement::CopyTo(copy) => match &copy.source {
            CopyToSource::Query(query) => check_tree(query.as_ref()),
            CopyToSource::Relation(_) => Ok(()),
        },
        _ => Ok(()),
    }
}

fn check_tree<T: Visit>(tree: &T) -> Result<(), TooDeep> {
    let mut depth = Depth::default();
    match tree.visit(&mut depth) {
        ControlFlow::Break(too_deep) => Err(too_deep),
        ControlFlow::Continue(()) => Ok(()),
    }
}

#[derive(Default)]
struct Depth {
    expressions: usize,
    queries: usize,
}

impl Visitor for Depth {
    type Break = TooDeep;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<TooDeep> {
        self.queries += 1;
        if self.queries > MAX_QUERY_DEPTH {
            return ControlFlow::Break(TooDeep {
                what: "the nesting of subqueries",
                found: self.queries,
                limit: MAX_QUERY_DEPTH,
            });
        }
        if let Some(with) = &query.with {
            if with.cte_tables.len() > MAX_CTES {
                return ControlFlow::Break(TooDeep {
                    what: "the number of WITH tables",
                    found: with.cte_tables.len(),
                    limit: MAX_CTES,
                });
            }
        }
        // The visitor descends set operations without a hook, so they are measured here, before it
        // recurses into them (iteratively along the left spine, which is where chains grow).
        let operations = set_operations(&query.body);
        if operations > MAX_SET_OPERATIONS {
            return ControlFlow::Break(TooDeep {
                what: "the chain of UNION/INTERSECT/EXCEPT",
                found: operations,
                limit: MAX_SET_OPERATIONS,
            });
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<TooDeep> {
        self.queries -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<TooDeep> {
        // Breaking here also bounds the visitor's own recursion to the limit.
        self.expressions += 1;
        if self.expressions > MAX_EXPRESSION_DEPTH {
            return ControlFlow::Break(TooDeep {
                what: "the depth of an expression",
                found: self.expressions,
                limit: MAX_EXPRESSION_DEPTH,
            });
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<TooDeep> {
        self.expressions -= 1;
        ControlFlow::Continue(())
    }
}

/// Set operations along the deepest path of a query body, counted without recursing along the
/// left spine (the parser builds `a UNION b UNION c` as ((a UNION b) UNION c)). The right side is
/// a parenthesised body, whose nesting the parser's own recursion limit already bounds.
fn set_operations(body: &SetExpr) -> usize {
    let mut count = 0;
    let mut deepest_right = 0;
    let mut current = body;
    while let SetExpr::SetOperation { left, right, .. } = current {
        count += 1;
        deepest_right = deepest_right.max(count + set_operations(right));
        current = left;
        if count > MAX_SET_OPERATIONS {
            break; // enough to refuse; no need to walk the rest
        }
    }
    count.max(deepest_right)
}
