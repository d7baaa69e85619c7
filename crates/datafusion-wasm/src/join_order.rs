//! The order of inner joins (issue 16): a logical optimizer rule that reorders a tree of inner
//! joins by estimated result size.
//!
//! DataFusion keeps the FROM clause's order for inner joins; its physical `JoinSelection` only
//! picks which side of each join builds the hash table. TPC-H q7 lists `supplier, lineitem,
//! orders, customer, nation n1, nation n2`, so the engine joined 1.83M lineitem rows with all
//! orders and all customers before the two nation filters threw 97% of them away, building two
//! hash tables of 1.83M rows on the way.
//!
//! The rule flattens a tree of inner equi-joins (seeing through the column-only projections and
//! filters between them) into its leaves and predicates, then joins greedily: each step joins
//! the two connected parts whose estimated result is smallest (GOO, "greedy operator
//! ordering"), the smaller one on the left, which is the side DataFusion builds the hash table
//! from. The estimates:
//! - a registered table's rows are exact (its batches are counted);
//! - a simple filter right on a registered table is evaluated on a sample of at most
//!   `SAMPLE_ROWS` rows spread over the table (columns, literals, comparisons, LIKE, IN,
//!   BETWEEN, casts: no function, so no user code runs while planning); other filters keep
//!   `FILTER_SELECTIVITY`;
//! - a join of A and B on keys keeps `|A| * |B| / d` rows, where `d` is the larger of the two
//!   keys' distinct counts, estimated from `NDV_BATCHES * NDV_ROWS_PER_BATCH` rows of their
//!   tables (a filtered table keeps a subset of its keys, not a new domain). The distinct count
//!   is what tells `c_nationkey = s_nationkey` (25 values: 1,960 suppliers times 150,000
//!   customers make 11.6M rows) from `c_custkey = o_custkey` (a key: one row per order);
//!   the first version, which took the smaller table's rows for `d`, put that 11.6M-row join
//!   first in TPC-H q5 and made it 40x slower.
//!
//! The samples are cached per table object and row count (see `ESTIMATES`): the optimizer
//! runs the rule in each pass, and sampling every time cost 10-26 ms per multi-join query.
//!
//! A predicate over leaves that no key joins (q7's `n1.n_name = .. AND n2.n_name = .. OR ..`) goes
//! to the first join that has all its columns. Only inner joins that match NULL with nothing
//! are reordered, and no tree with a volatile or subquery predicate (moving one could change how
//! often it runs). `SET datafusion.optimizer.join_reordering = false` keeps the query's order
//! (the same setting turns off DataFusion's own swaps).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::take;
use datafusion::catalog::TableProvider;
use datafusion::common::hash_utils::{create_hashes, RandomState};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, NullEquality, Result};
use datafusion::datasource::{source_as_provider, MemTable};
use datafusion::logical_expr::execution_props::ExecutionProps;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::utils::{can_hash, conjunction, split_conjunction_owned};
use datafusion::logical_expr::{
    BinaryExpr, Cast, Expr, ExprSchemable, Filter, Join, JoinConstraint, JoinType, LogicalPlan, Operator, Projection,
    TableScan, TryCast,
};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion::physical_expr::create_physical_expr;

/// Fewer leaves than this leave nothing to order: `JoinSelection` already picks the build side.
const MIN_LEAVES: usize = 3;
/// Parts are bit sets of leaves; the greedy search is cubic in the number of leaves.
const MAX_LEAVES: usize = 24;
/// What a filter keeps when it cannot be sampled (DataFusion's own default guess is 20%).
const FILTER_SELECTIVITY: f64 = 0.2;
/// What a join predicate that is not an equality keeps.
const OTHER_PREDICATE_SELECTIVITY: f64 = 0.5;
/// Rows a filter is evaluated on: enough to see 0.1% selectivity, cheap next to any join.
const SAMPLE_ROWS: usize = 8192;
/// The sample is taken as this many slices spread over the table (tables are often sorted by
/// key, and a date range or a key range would otherwise be judged on one corner).
const SAMPLE_SLICES: usize = 8;
/// The rows a join key's distinct values are estimated from: `NDV_ROWS_PER_BATCH` spaced rows of
/// each of `NDV_BATCHES` spaced batches (about 0.1 ms of hashing per key).
const NDV_BATCHES: usize = 64;
const NDV_ROWS_PER_BATCH: usize = 32;
/// Rows assumed for a table that is not a registered one (no count to read).
const UNKNOWN_ROWS: f64 = 1000.0;

/// Inserts [`ReorderJoins`] into DataFusion's logical optimizer rules, right after filter
/// pushdown (the filters are then at the scans, where they can be sampled, and the projection
/// pruning that follows trims the new joins' columns).
pub fn optimizer_rules() -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
    let mut rules = datafusion::optimizer::Optimizer::new().rules;
    let at = rules.iter().position(|rule| rule.name() == "push_down_filter").map_or(rules.len(), |at| at + 1);
    rules.insert(at, Arc::new(ReorderJoins));
    rules
}

/// The rule. See the module documentation.
#[derive(Debug, Default)]
pub struct ReorderJoins;

impl OptimizerRule for ReorderJoins {
    fn name(&self) -> &str {
        "reorder_joins"
    }

    fn rewrite(&self, plan: LogicalPlan, config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        if !config.options().optimizer.join_reordering {
            return Ok(Transformed::no(plan));
        }
        optimize(plan)
    }
}

fn optimize(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    if let Some(graph) = Graph::flatten(&plan) {
        if graph.leaves.len() >= MIN_LEAVES {
            match graph.reorder(&plan)? {
                Reordered::Rebuilt(reordered) => return Ok(Transformed::yes(reordered)),
                // Not into the joins below: each is part of this tree, whose order stands (a
                // subtree ordered on its own could differ, and the next pass would undo it).
                Reordered::AsItIs => return Ok(Transformed::no(plan)),
                Reordered::Cannot => {}
            }
        }
    }
    plan.map_children(optimize)
}

/// What [`Graph::reorder`] did.
enum Reordered {
    /// The joins in the greedy order (or with leaves that changed inside).
    Rebuilt(LogicalPlan),
    /// The joins are in the greedy order already, and no leaf changed.
    AsItIs,
    /// A predicate could not be placed, or the new joins could not be built: keep the tree.
    Cannot,
}

/// How the parts were joined: leaves by index into [`Graph::leaves`].
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    Leaf(usize),
    Join(Box<Shape>, Box<Shape>),
}

/// A tree of inner joins, flattened.
struct Graph {
    leaves: Vec<LogicalPlan>,
    predicates: Vec<Expr>,
    shape: Shape,
}

/// A join of two leaves on an equality of an expression of each.
struct Edge {
    left: usize,
    right: usize,
    left_key: Expr,
    right_key: Expr,
    /// The distinct keys the join matches from: the larger of the two sides' counts (joins on
    /// keys are mostly foreign key to primary key; the primary key's count is the domain).
    domain: f64,
}

/// A predicate over the leaves in `leaves` (a bit set) that is not an edge.
struct Other {
    leaves: u32,
    predicate: Expr,
    applied: bool,
}

/// Leaves joined so far.
struct Part {
    plan: LogicalPlan,
    leaves: u32,
    rows: f64,
    shape: Shape,
}

fn is_reorderable(join: &Join) -> bool {
    join.join_type == JoinType::Inner && join.null_equality == NullEquality::NullEqualsNothing && !join.null_aware
}

fn is_join_tree(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Join(join) => is_reorderable(join),
        LogicalPlan::Projection(projection) => is_column_projection(projection) && is_join_tree(&projection.input),
        LogicalPlan::Filter(filter) => is_join_tree(&filter.input),
        _ => false,
    }
}

fn is_column_projection(projection: &Projection) -> bool {
    projection.expr.iter().all(|expr| matches!(expr, Expr::Column(_)))
}

impl Graph {
    /// `plan`'s inner joins as leaves and predicates, or None if `plan` is not a join that can
    /// be reordered.
    fn flatten(plan: &LogicalPlan) -> Option<Graph> {
        let LogicalPlan::Join(join) = plan else { return None };
        if !is_reorderable(join) {
            return None;
        }
        let mut graph = Graph { leaves: Vec::new(), predicates: Vec::new(), shape: Shape::Leaf(0) };
        graph.shape = graph.add(plan)?;
        let safe = graph
            .predicates
            .iter()
            .all(|predicate| !predicate.is_volatile() && !predicate.exists(|e| Ok(is_subquery(e))).unwrap_or(true));
        (safe && graph.leaves.len() <= MAX_LEAVES).then_some(graph)
    }

    fn add(&mut self, plan: &LogicalPlan) -> Option<Shape> {
        match plan {
            LogicalPlan::Join(join) if is_reorderable(join) => {
                let left = self.add(&join.left)?;
                let right = self.add(&join.right)?;
                self.predicates.extend(join.on.iter().map(|(l, r)| l.clone().eq(r.clone())));
                if let Some(filter) = &join.filter {
                    self.predicates.extend(split_conjunction_owned(filter.clone()));
                }
                Some(Shape::Join(Box::new(left), Box::new(right)))
            }
            LogicalPlan::Projection(projection) if is_join_tree(plan) => {
                debug_assert!(is_column_projection(projection));
                self.add(&projection.input)
            }
            LogicalPlan::Filter(filter) if is_join_tree(plan) => {
                self.predicates.extend(split_conjunction_owned(filter.predicate.clone()));
                self.add(&filter.input)
            }
            _ => {
                self.leaves.push(plan.clone());
                Some(Shape::Leaf(self.leaves.len() - 1))
            }
        }
    }

    /// The leaves (a bit set) whose columns `expr` reads, or None if a column is in no leaf or
    /// in more than one.
    fn leaves_of(&self, expr: &Expr) -> Option<u32> {
        let mut set = 0u32;
        for column in expr.column_refs() {
            let mut found = None;
            for (at, leaf) in self.leaves.iter().enumerate() {
                if leaf.schema().has_column(column) {
                    if found.is_some() {
                        return None;
                    }
                    found = Some(at);
                }
            }
            set |= 1 << found?;
        }
        Some(set)
    }

    /// The joins rebuilt in the greedy order. Only the leaves' own optimization can fail the
    /// query; a tree the rule cannot rebuild is kept as it is.
    fn reorder(self, original: &LogicalPlan) -> Result<Reordered> {
        // Leaves first: a leaf can hold joins of its own (a subquery, an aggregate's input).
        let mut leaves_changed = false;
        let mut leaves = Vec::with_capacity(self.leaves.len());
        for leaf in &self.leaves {
            let optimized = optimize(leaf.clone())?;
            leaves_changed |= optimized.transformed;
            leaves.push(optimized.data);
        }
        let graph = Graph { leaves, ..self };
        Ok(graph.greedy(original, leaves_changed).unwrap_or(Reordered::Cannot))
    }

    /// The greedy order (see [`Graph::reorder`]); None where a predicate cannot be placed or a
    /// join, filter or projection cannot be built.
    fn greedy(&self, original: &LogicalPlan, leaves_changed: bool) -> Option<Reordered> {
        let mut edges = Vec::new();
        let mut others = Vec::new();
        let mut everywhere = Vec::new();
        for predicate in &self.predicates {
            if let Some(edge) = self.edge(predicate) {
                edges.push(edge);
                continue;
            }
            let leaves = self.leaves_of(predicate)?;
            if leaves == 0 {
                everywhere.push(predicate.clone());
            } else {
                others.push(Other { leaves, predicate: predicate.clone(), applied: false });
            }
        }

        let mut parts = Vec::with_capacity(self.leaves.len());
        for (at, leaf) in self.leaves.iter().enumerate() {
            let mut plan = leaf.clone();
            let mut rows = estimate_rows(leaf);
            let bit = 1u32 << at;
            let own: Vec<Expr> = others
                .iter_mut()
                .filter(|other| other.leaves == bit)
                .map(|other| {
                    other.applied = true;
                    other.predicate.clone()
                })
                .collect();
            if let Some(predicate) = conjunction(own) {
                rows *= FILTER_SELECTIVITY;
                plan = LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(plan)).ok()?);
            }
            parts.push(Part { plan, leaves: bit, rows, shape: Shape::Leaf(at) });
        }

        while parts.len() > 1 {
            let (i, j, rows) = best_pair(&parts, &edges);
            let second = parts.remove(j);
            let first = parts.remove(i);
            let (left, right) = if second.rows < first.rows { (second, first) } else { (first, second) };
            let on: Vec<(Expr, Expr)> = edges
                .iter()
                .filter_map(|edge| {
                    let (l, r) = (1u32 << edge.left, 1u32 << edge.right);
                    if left.leaves & l != 0 && right.leaves & r != 0 {
                        Some((edge.left_key.clone(), edge.right_key.clone()))
                    } else if left.leaves & r != 0 && right.leaves & l != 0 {
                        Some((edge.right_key.clone(), edge.left_key.clone()))
                    } else {
                        None
                    }
                })
                .collect();
            let union = left.leaves | right.leaves;
            let mut rows = rows;
            let filter: Vec<Expr> = others
                .iter_mut()
                .filter(|other| !other.applied && other.leaves & !union == 0)
                .map(|other| {
                    other.applied = true;
                    rows *= OTHER_PREDICATE_SELECTIVITY;
                    other.predicate.clone()
                })
                .collect();
            let join = Join::try_new(
                Arc::new(left.plan),
                Arc::new(right.plan),
                on,
                conjunction(filter),
                JoinType::Inner,
                JoinConstraint::On,
                NullEquality::NullEqualsNothing,
                false,
            )
            .ok()?;
            parts.push(Part {
                plan: LogicalPlan::Join(join),
                leaves: union,
                rows: rows.max(1.0),
                shape: Shape::Join(Box::new(left.shape), Box::new(right.shape)),
            });
        }
        let part = parts.pop().expect("a graph has at least one leaf");
        if others.iter().any(|other| !other.applied) {
            return None;
        }
        if part.shape == self.shape && !leaves_changed {
            return Some(Reordered::AsItIs);
        }
        let mut plan = part.plan;
        if let Some(predicate) = conjunction(everywhere) {
            plan = LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(plan)).ok()?);
        }
        // The joins' columns in the original order, so nothing above changes.
        if plan.schema().columns() != original.schema().columns() {
            let columns = original.schema().columns().into_iter().map(Expr::Column).collect::<Vec<_>>();
            plan = LogicalPlan::Projection(Projection::try_new(columns, Arc::new(plan)).ok()?);
        }
        Some(Reordered::Rebuilt(plan))
    }

    /// `predicate` as a join of two leaves on keys of one type that can be hashed.
    fn edge(&self, predicate: &Expr) -> Option<Edge> {
        let Expr::BinaryExpr(BinaryExpr { left, op: Operator::Eq, right }) = predicate else { return None };
        let (l, r) = (self.leaves_of(left)?, self.leaves_of(right)?);
        if l.count_ones() != 1 || r.count_ones() != 1 || l == r {
            return None;
        }
        let (left_leaf, right_leaf) = (l.trailing_zeros() as usize, r.trailing_zeros() as usize);
        let left_type = left.get_type(self.leaves[left_leaf].schema()).ok()?;
        let right_type = right.get_type(self.leaves[right_leaf].schema()).ok()?;
        if left_type != right_type || !can_hash(&left_type) {
            return None;
        }
        let domain = key_ndv(&self.leaves[left_leaf], left).max(key_ndv(&self.leaves[right_leaf], right));
        Some(Edge {
            left: left_leaf,
            right: right_leaf,
            left_key: left.as_ref().clone(),
            right_key: right.as_ref().clone(),
            domain,
        })
    }
}

fn is_subquery(expr: &Expr) -> bool {
    matches!(expr, Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_) | Expr::OuterReferenceColumn(..))
}

/// The two parts to join next: of the pairs joined by an edge, the one with the smallest
/// estimated result; a cross join only when no pair is connected. Returns (i, j, rows), i < j.
fn best_pair(parts: &[Part], edges: &[Edge]) -> (usize, usize, f64) {
    let mut best: Option<(usize, usize, f64)> = None;
    let mut best_cross: Option<(usize, usize, f64)> = None;
    for i in 0..parts.len() {
        for j in i + 1..parts.len() {
            let (a, b) = (&parts[i], &parts[j]);
            // The most selective edge between the two parts decides (composite keys are
            // usually one key's domain, not the product of theirs).
            let domain = edges
                .iter()
                .filter(|edge| {
                    let (l, r) = (1u32 << edge.left, 1u32 << edge.right);
                    (a.leaves & l != 0 && b.leaves & r != 0) || (a.leaves & r != 0 && b.leaves & l != 0)
                })
                .map(|edge| edge.domain)
                .fold(None, |acc: Option<f64>, d| Some(acc.map_or(d, |acc| acc.max(d))));
            match domain {
                Some(domain) => {
                    let rows = a.rows * b.rows / domain.max(1.0);
                    if best.is_none_or(|(_, _, r)| rows < r) {
                        best = Some((i, j, rows));
                    }
                }
                None => {
                    let rows = a.rows * b.rows;
                    if best_cross.is_none_or(|(_, _, r)| rows < r) {
                        best_cross = Some((i, j, rows));
                    }
                }
            }
        }
    }
    best.or(best_cross).expect("two parts make at least one pair")
}

/// The distinct values of the join key `key` of `leaf`: sampled from its registered table when
/// the key is one of its columns (through aliases, column projections, filters and casts: a
/// filter keeps a subset of the keys, not a new domain), else the leaf's rows (as if unique).
fn key_ndv(leaf: &LogicalPlan, key: &Expr) -> f64 {
    let mut key = key;
    while let Expr::Cast(Cast { expr, .. }) | Expr::TryCast(TryCast { expr, .. }) = key {
        key = expr;
    }
    let sampled = match key {
        Expr::Column(column) => column_source(leaf, column)
            .and_then(|(scan, index)| cached(scan, format!("distinct {index}"), |batches| sampled_ndv(batches, index))),
        _ => None,
    };
    sampled.unwrap_or_else(|| estimate_rows(leaf)).max(1.0)
}

/// The scan of the registered table `column` of `plan` is read from, and its index there.
fn column_source<'a>(plan: &'a LogicalPlan, column: &Column) -> Option<(&'a TableScan, usize)> {
    match plan {
        LogicalPlan::SubqueryAlias(alias) => {
            let at = alias.schema.index_of_column(column).ok()?;
            column_source(&alias.input, &Column::from(alias.input.schema().qualified_field(at)))
        }
        LogicalPlan::Projection(projection) => {
            let at = projection.schema.index_of_column(column).ok()?;
            match &projection.expr[at] {
                Expr::Column(inner) => column_source(&projection.input, inner),
                Expr::Alias(alias) => match alias.expr.as_ref() {
                    Expr::Column(inner) => column_source(&projection.input, inner),
                    _ => None,
                },
                _ => None,
            }
        }
        LogicalPlan::Filter(filter) => column_source(&filter.input, column),
        LogicalPlan::TableScan(scan) => {
            let at = scan.projected_schema.index_of_column(column).ok()?;
            let index = scan.projection.as_ref().map_or(Some(at), |projection| projection.get(at).copied())?;
            Some((scan, index))
        }
        _ => None,
    }
}

/// Distinct non-null values of column `index`: counted exactly in a table of at most
/// `NDV_BATCHES * NDV_ROWS_PER_BATCH` rows, else estimated from that many rows spread over the
/// table (`NDV_ROWS_PER_BATCH` evenly spaced rows of `NDV_BATCHES` evenly spaced batches) by
/// solving `d = D * (1 - (1 - 1/D)^n)` (the distinct count `d` expected in `n` draws from `D`
/// equally frequent values) for `D`. Spaced rows, not a slice: tables sorted by a key that repeats
/// (lineitem by order key) would otherwise look like few values.
fn sampled_ndv(batches: &[RecordBatch], index: usize) -> Option<f64> {
    let batches: Vec<&RecordBatch> = batches.iter().filter(|b| b.num_rows() > 0).collect();
    let total = batches.iter().map(|b| b.num_rows()).sum::<usize>();
    let exact = total <= NDV_BATCHES * NDV_ROWS_PER_BATCH;
    let picked: Vec<&RecordBatch> = if exact {
        batches.clone()
    } else {
        let count = NDV_BATCHES.min(batches.len());
        (0..count).map(|k| batches[k * batches.len() / count]).collect()
    };
    let state = RandomState::with_seed(0);
    let mut seen = HashSet::new();
    let mut drawn = 0usize;
    for batch in picked {
        let column = batch.columns().get(index)?;
        let sample: ArrayRef = if exact {
            Arc::clone(column)
        } else {
            let step = (column.len() / NDV_ROWS_PER_BATCH).max(1);
            let rows = UInt32Array::from_iter_values(
                (0..column.len()).step_by(step).take(NDV_ROWS_PER_BATCH).map(|row| row as u32),
            );
            take(column.as_ref(), &rows, None).ok()?
        };
        let mut hashes = vec![0u64; sample.len()];
        create_hashes([&sample], &state, &mut hashes).ok()?;
        for (row, hash) in hashes.into_iter().enumerate() {
            if sample.is_valid(row) {
                seen.insert(hash);
                drawn += 1;
            }
        }
    }
    let distinct = seen.len() as f64;
    if exact || drawn == 0 {
        return Some(distinct.max(1.0));
    }
    let (n, total) = (drawn as f64, total as f64);
    let expected = |d: f64| d * (1.0 - (1.0 - 1.0 / d).powf(n));
    if distinct >= n || expected(total) <= distinct {
        return Some(total);
    }
    let (mut low, mut high) = (distinct, total);
    for _ in 0..64 {
        let mid = (low + high) / 2.0;
        if expected(mid) < distinct {
            low = mid;
        } else {
            high = mid;
        }
    }
    Some(high)
}

/// The rows `plan` is estimated to produce.
fn estimate_rows(plan: &LogicalPlan) -> f64 {
    match plan {
        LogicalPlan::TableScan(scan) => {
            let table = memory_table(scan);
            let rows = table
                .as_ref()
                .and_then(|t| t.downcast_ref::<MemTable>())
                .map_or(UNKNOWN_ROWS, |t| table_rows(t) as f64);
            let rows = rows * FILTER_SELECTIVITY.powi(scan.filters.len() as i32);
            scan.fetch.map_or(rows, |fetch| rows.min(fetch as f64))
        }
        LogicalPlan::Filter(filter) => match sampled_rows(filter) {
            Some(rows) => rows,
            None => estimate_rows(&filter.input) * FILTER_SELECTIVITY,
        },
        LogicalPlan::Aggregate(aggregate) if aggregate.group_expr.is_empty() => 1.0,
        // Grouping keeps at most every row; half is a guess that still ranks the aggregate after
        // a filtered table of the same size.
        LogicalPlan::Aggregate(aggregate) => estimate_rows(&aggregate.input) / 2.0,
        LogicalPlan::Sort(sort) => {
            let rows = estimate_rows(&sort.input);
            sort.fetch.map_or(rows, |fetch| rows.min(fetch as f64))
        }
        LogicalPlan::Join(join) => match join.join_type {
            JoinType::Left | JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark => estimate_rows(&join.left),
            JoinType::Right | JoinType::RightSemi | JoinType::RightAnti | JoinType::RightMark => {
                estimate_rows(&join.right)
            }
            JoinType::Full => estimate_rows(&join.left) + estimate_rows(&join.right),
            JoinType::Inner => estimate_rows(&join.left).max(estimate_rows(&join.right)),
        },
        LogicalPlan::Union(union) => union.inputs.iter().map(|input| estimate_rows(input)).sum(),
        LogicalPlan::Values(values) => values.values.len() as f64,
        LogicalPlan::EmptyRelation(empty) => f64::from(u8::from(empty.produce_one_row)),
        other => other.inputs().first().map_or(UNKNOWN_ROWS, |input| estimate_rows(input)),
    }
}

/// The provider of `scan` when it is a registered table (a MemTable).
fn memory_table(scan: &TableScan) -> Option<Arc<dyn TableProvider>> {
    source_as_provider(&scan.source).ok().filter(|provider| provider.downcast_ref::<MemTable>().is_some())
}

/// A registered table's batches. One thread, and planning never overlaps a write to a table:
/// the partitions are never write-locked here.
fn table_batches(table: &MemTable) -> Vec<RecordBatch> {
    table.batches.iter().filter_map(|p| p.try_read().ok().map(|b| b.clone())).flatten().collect()
}

fn table_rows(table: &MemTable) -> usize {
    table.batches.iter().filter_map(|p| p.try_read().ok().map(|b| rows_of(&b))).sum()
}

fn rows_of(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// A sampled estimate of a registered table, kept while the table is the same object with the
/// same number of rows (`register_table` makes a new MemTable; an INSERT adds rows).
struct Estimate {
    table: Weak<dyn TableProvider>,
    rows: usize,
    value: f64,
}

/// At most this many estimates are kept (the dead ones go first).
const MAX_ESTIMATES: usize = 1024;

thread_local! {
    /// Estimates by (table, what): the optimizer runs the rule in each of its passes and a
    /// query's edges share keys; sampling again cost 10-26 ms per multi-join query in node.
    /// The Weak keeps the table's allocation, so its address is not reused while an entry
    /// names it.
    static ESTIMATES: RefCell<HashMap<(usize, String), Estimate>> = RefCell::new(HashMap::new());
}

/// `compute`'s value over the batches of the registered table `scan` reads, computed once per
/// table and `what`.
fn cached(scan: &TableScan, what: String, compute: impl FnOnce(&[RecordBatch]) -> Option<f64>) -> Option<f64> {
    let provider = memory_table(scan)?;
    let table = provider.downcast_ref::<MemTable>()?;
    let rows = table_rows(table);
    let address = Arc::as_ptr(&provider) as *const () as usize;
    let key = (address, what);
    let hit = ESTIMATES.with(|estimates| {
        estimates
            .borrow()
            .get(&key)
            .filter(|e| {
                e.rows == rows && e.table.upgrade().is_some_and(|t| Arc::as_ptr(&t) as *const () as usize == address)
            })
            .map(|e| e.value)
    });
    if hit.is_some() {
        return hit;
    }
    let value = compute(&table_batches(table))?;
    ESTIMATES.with(|estimates| {
        let mut estimates = estimates.borrow_mut();
        if estimates.len() >= MAX_ESTIMATES {
            estimates.retain(|_, e| e.table.strong_count() > 0);
            if estimates.len() >= MAX_ESTIMATES {
                estimates.clear();
            }
        }
        estimates.insert(key, Estimate { table: Arc::downgrade(&provider), rows, value });
    });
    Some(value)
}

/// The rows a filter right on a registered table keeps, from evaluating it on a sample; None
/// when the filter is not that simple (see the module documentation) or cannot be evaluated.
fn sampled_rows(filter: &Filter) -> Option<f64> {
    let LogicalPlan::TableScan(scan) = filter.input.as_ref() else { return None };
    if !scan.filters.is_empty() || scan.fetch.is_some() || !is_sampleable(&filter.predicate) {
        return None;
    }
    cached(scan, format!("filter {}", filter.predicate), |batches| sample_filter(filter, scan, batches))
}

/// The rows of `batches` (the table `scan` reads) that `filter` keeps, estimated on a sample.
fn sample_filter(filter: &Filter, scan: &TableScan, batches: &[RecordBatch]) -> Option<f64> {
    let total = rows_of(batches);
    if total == 0 {
        return Some(0.0);
    }
    let predicate = create_physical_expr(
        &filter.predicate,
        scan.projected_schema.as_ref(),
        &ExecutionProps::new(),
        &PhysicalPlanningContext::default(),
    )
    .ok()?;
    let batches: Vec<&RecordBatch> = batches.iter().filter(|b| b.num_rows() > 0).collect();
    let samples: Vec<RecordBatch> = if total <= SAMPLE_ROWS {
        batches.into_iter().cloned().collect()
    } else {
        let slices = SAMPLE_SLICES.min(batches.len());
        let per_slice = SAMPLE_ROWS / slices;
        (0..slices)
            .map(|k| batches[k * batches.len() / slices])
            .map(|batch| batch.slice(0, per_slice.min(batch.num_rows())))
            .collect()
    };
    let (mut kept, mut seen) = (0usize, 0usize);
    for batch in samples {
        let batch = match &scan.projection {
            Some(indices) => batch.project(indices).ok()?,
            None => batch,
        };
        let mask = predicate.evaluate(&batch).ok()?.into_array(batch.num_rows()).ok()?;
        kept += mask.as_any().downcast_ref::<BooleanArray>()?.true_count();
        seen += batch.num_rows();
    }
    // None kept in the sample: rarer than one in `seen`, not none at all.
    let selectivity = if kept == 0 { 0.5 / seen as f64 } else { kept as f64 / seen as f64 };
    Some(total as f64 * selectivity)
}

/// Only comparisons, LIKE, IN lists and casts over columns and literals are evaluated while
/// planning: no function (a user's UDF could be slow or count its calls), nothing volatile.
fn is_sampleable(predicate: &Expr) -> bool {
    !predicate
        .exists(|e| {
            Ok(!matches!(
                e,
                Expr::Column(_)
                    | Expr::Literal(..)
                    | Expr::BinaryExpr(_)
                    | Expr::Like(_)
                    | Expr::Not(_)
                    | Expr::IsNull(_)
                    | Expr::IsNotNull(_)
                    | Expr::IsTrue(_)
                    | Expr::IsFalse(_)
                    | Expr::IsNotTrue(_)
                    | Expr::IsNotFalse(_)
                    | Expr::Between(_)
                    | Expr::InList(_)
                    | Expr::Cast(_)
                    | Expr::TryCast(_)
                    | Expr::Negative(_)
            ))
        })
        .unwrap_or(true)
}
