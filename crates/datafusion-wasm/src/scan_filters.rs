//! Dynamic filters applied where registered tables are read.
//!
//! While a query runs, DataFusion's hash joins publish the keys their build side holds (bounds
//! plus a membership test), TopK sorts the value a row must beat, and min/max aggregates the
//! bound a row must pass: *dynamic filters*, pushed down the probe side towards the scans. A
//! Parquet scan uses them to skip data; DataFusion's in-memory source (what a `MemTable`, and so
//! every table this engine registers, scans with) refuses every pushed filter, so here they were
//! built and never used. TPC-H q17 is the case that hurts: its correlated subquery becomes an
//! average grouped by part key over all 6M lineitem rows, joined afterwards with the 200 parts
//! the query asks about. With the join's filter applied where lineitem is read, the aggregate
//! sees the 6,000 rows of those parts (DuckDB gets the same effect from its delim join).
//!
//! Two physical optimizer rules around DataFusion's post-optimization filter pushdown (the pass
//! that pushes dynamic filters):
//! - [`InsertScanFilters`], before it, puts a [`DynamicFilterExec`] above each in-memory scan,
//!   and above the scan's cheap `FilterExec`s (numbers, dates, one string comparison): those
//!   static predicates run first and the membership test only on the rows they keep. An
//!   expensive `FilterExec` (LIKE, functions, more than one string comparison) stays above it:
//!   the membership test runs first and the predicate only on the rows it keeps (TPC-H q19: 1.9x
//!   faster). `DynamicFilterExec` keeps the dynamic filters that reach it and reports each as
//!   *not* pushed down, so no operator above changes: a dynamic filter only drops rows that the
//!   operator which published it would drop itself (the contract Parquet's row filter relies on).
//! - [`PruneScanFilters`], after it, keeps a filter only where the rows it drops would otherwise
//!   go through an expensive operator (an aggregate, a window, a sort, a nested-loop or cross
//!   join, an expensive `FilterExec`) before they reach the filter's publisher. Measured on
//!   TPC-H SF 1 (docs/speed.md): where a scan feeds the join directly, the membership test costs
//!   what the join's own probe costs, and applying it everywhere made q3, q5, q8, q11 and q22 up
//!   to 1.8x slower; through an aggregate it made q17 5.7x and q20 2.2x faster.
//!   `DynamicFilterExec`s left without a filter are removed, so other plans are unchanged.
//!
//! Each `DynamicFilterExec` also stops applying a filter that keeps more than 90% of the first
//! 65,536 rows it sees, until the filter changes (a TopK bound tightens as the sort sees rows).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::arrow::array::{Array, BooleanArray, RecordBatch};
use datafusion::arrow::compute::{and, prep_null_mask_filter, BatchCoalescer};
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{internal_err, Result, ScalarValue, Statistics};
use datafusion::datasource::memory::{DataSourceExec, MemorySourceConfig};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::expressions::{Column, DynamicFilterPhysicalExpr, LikeExpr, Literal};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::ScalarFunctionExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::execution_plan::{CardinalityEffect, ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::filter_pushdown::{
    ChildFilterDescription, ChildPushdownResult, FilterDescription, FilterPushdownPhase, FilterPushdownPropagation,
    PushedDown,
};
use datafusion::physical_plan::joins::{CrossJoinExec, NestedLoopJoinExec};
use datafusion::physical_plan::metrics::{Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::windows::{BoundedWindowAggExec, WindowAggExec};
use datafusion::physical_plan::{
    replace_children_if_necessary, ChildStats, DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties,
    StatisticsArgs,
};
use futures::{Stream, StreamExt};

/// Rows a scan applies a filter to before it judges whether the filter is worth its cost.
const JUDGE_AFTER_ROWS: usize = 65_536;
/// A filter that keeps more than this share of the rows it has seen is switched off.
const KEEPS_TOO_MANY: f64 = 0.9;

/// DataFusion's rules with [`InsertScanFilters`] just before the post-optimization filter
/// pushdown and [`PruneScanFilters`] just after it.
pub fn physical_optimizer_rules() -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules = datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new().rules;
    let Some(at) = rules.iter().position(|rule| rule.name() == "FilterPushdown(Post)") else {
        // A DataFusion without the pass: no dynamic filter would reach the scans anyway.
        return rules;
    };
    rules.insert(at + 1, Arc::new(PruneScanFilters));
    rules.insert(at, Arc::new(InsertScanFilters));
    rules
}

/// Puts a [`DynamicFilterExec`] above each in-memory scan and the `FilterExec`s right above it.
#[derive(Debug, Default)]
pub struct InsertScanFilters;

impl PhysicalOptimizerRule for InsertScanFilters {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        let options = &config.optimizer;
        if !(options.enable_join_dynamic_filter_pushdown
            || options.enable_topk_dynamic_filter_pushdown
            || options.enable_aggregate_dynamic_filter_pushdown)
        {
            return Ok(plan);
        }
        plan.transform_up(|node| {
            if let Some(exec) = node.downcast_ref::<DataSourceExec>() {
                if exec.data_source().downcast_ref::<MemorySourceConfig>().is_some() {
                    return Ok(Transformed::yes(DynamicFilterExec::wrap(node)));
                }
            } else if node.is::<FilterExec>() && !is_expensive(node.as_ref()) {
                // FilterExec(DynamicFilterExec(x)) -> DynamicFilterExec(FilterExec(x)): a cheap
                // static predicate runs first. Below an expensive one (is_expensive_predicate), the
                // membership test goes first and the predicate runs on the rows it keeps.
                if let Some(below) = node.children()[0].downcast_ref::<DynamicFilterExec>() {
                    let filter = Arc::clone(&node).replace_children(
                        vec![Arc::clone(&below.input)],
                        ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
                    )?;
                    return Ok(Transformed::yes(DynamicFilterExec::wrap(filter)));
                }
            }
            Ok(Transformed::no(node))
        })
        .data()
    }

    fn name(&self) -> &str {
        "InsertScanFilters"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Keeps each [`DynamicFilterExec`]'s filters only where they save an expensive operator work
/// (see the module documentation) and removes the `DynamicFilterExec`s left without one.
#[derive(Debug, Default)]
pub struct PruneScanFilters;

impl PhysicalOptimizerRule for PruneScanFilters {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        prune(plan, &HashMap::new())
    }

    fn name(&self) -> &str {
        "PruneScanFilters"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Operators whose work per input row is well above a hash probe's: dropping a row before them
/// is worth a membership test.
fn is_expensive(plan: &dyn ExecutionPlan) -> bool {
    if let Some(filter) = plan.downcast_ref::<FilterExec>() {
        return is_expensive_predicate(filter.predicate(), &filter.input().schema());
    }
    plan.is::<AggregateExec>()
        || plan.is::<WindowAggExec>()
        || plan.is::<BoundedWindowAggExec>()
        || plan.is::<SortExec>()
        || plan.is::<NestedLoopJoinExec>()
        || plan.is::<CrossJoinExec>()
}

/// A predicate that costs more per row than a membership test on a join key: one that matches
/// patterns or calls functions (LIKE, substr, regexp), or compares strings or binary values more
/// than once (TPC-H q19's `(l_shipmode = 'AIR' OR l_shipmode = 'AIR REG') AND l_shipinstruct =
/// ...`). One string comparison (q10's `l_returnflag = 'R'`) and comparisons of numbers, dates
/// and decimals are cheaper than the test: measured, putting the test first made q10 1.4x slower.
fn is_expensive_predicate(predicate: &Arc<dyn PhysicalExpr>, schema: &Schema) -> bool {
    let mut calls = false;
    let mut string_reads = 0;
    let _ = predicate.apply(|expr| {
        calls |= expr.is::<ScalarFunctionExpr>() || expr.is::<LikeExpr>();
        if let Some(column) = expr.downcast_ref::<Column>() {
            let is_string = schema.fields().get(column.index()).is_some_and(|field| {
                matches!(
                    field.data_type(),
                    DataType::Utf8
                        | DataType::LargeUtf8
                        | DataType::Utf8View
                        | DataType::Binary
                        | DataType::LargeBinary
                        | DataType::BinaryView
                )
            });
            string_reads += usize::from(is_string);
        }
        Ok(if calls || string_reads > 1 { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    calls || string_reads > 1
}

/// `published`: the dynamic filters published above `plan` (by expression id), each with
/// whether an expensive operator lies between its publisher and `plan`.
fn prune(plan: Arc<dyn ExecutionPlan>, published: &HashMap<u64, bool>) -> Result<Arc<dyn ExecutionPlan>> {
    let mut below = published.clone();
    if is_expensive(plan.as_ref()) {
        below.values_mut().for_each(|expensive| *expensive = true);
    }
    for filter in plan.dynamic_expressions_produced() {
        if let Some(id) = filter.expression_id() {
            below.insert(id, false);
        }
    }
    if let Some(exec) = plan.downcast_ref::<DynamicFilterExec>() {
        let input = prune(Arc::clone(&exec.input), &below)?;
        let worth = |filter: &&Arc<dyn PhysicalExpr>| {
            filter.expression_id().and_then(|id| below.get(&id).copied()).unwrap_or(false)
        };
        let filters: Vec<_> = exec.filters.iter().filter(worth).cloned().collect();
        if filters.is_empty() {
            return Ok(input);
        }
        return Ok(Arc::new(DynamicFilterExec { filters, ..exec.with_input(input) }));
    }
    let children =
        plan.children().into_iter().map(|child| prune(Arc::clone(child), &below)).collect::<Result<Vec<_>>>()?;
    replace_children_if_necessary(plan, children)
}

/// Applies the dynamic filters pushed to it to its input's batches (see the module
/// documentation); passes batches through until a filter is set.
#[derive(Debug, Clone)]
pub struct DynamicFilterExec {
    input: Arc<dyn ExecutionPlan>,
    filters: Vec<Arc<dyn PhysicalExpr>>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl DynamicFilterExec {
    fn wrap(input: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
        Arc::new(Self {
            properties: Arc::clone(input.properties()),
            input,
            filters: Vec::new(),
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }

    /// The same filters over another input.
    fn with_input(&self, input: Arc<dyn ExecutionPlan>) -> Self {
        Self {
            properties: Arc::clone(input.properties()),
            input,
            filters: self.filters.clone(),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for DynamicFilterExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let filters = self.filters.iter().map(|filter| filter.to_string()).collect::<Vec<_>>().join(", ");
        match t {
            DisplayFormatType::TreeRender => writeln!(f, "filters={filters}"),
            _ => write!(f, "DynamicFilterExec: filters=[{filters}]"),
        }
    }
}

impl ExecutionPlan for DynamicFilterExec {
    fn name(&self) -> &str {
        "DynamicFilterExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        // An aggregate keeps its own dynamic filter only when a node below it holds the filter's
        // id (AggregateExec::handle_child_pushdown_result): the filters are visited.
        datafusion::physical_plan::apply_expression_roots(self.filters.iter(), f)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return internal_err!("DynamicFilterExec takes one child, not {}", children.len());
        }
        Ok(Arc::new(self.with_input(children.swap_remove(0))))
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let batch_size = context.session_config().batch_size();
        let stream = self.input.execute(partition, context)?;
        if self.filters.is_empty() {
            return Ok(stream);
        }
        let schema = stream.schema();
        Ok(Box::pin(FilteredStream {
            coalescer: BatchCoalescer::new(Arc::clone(&schema), batch_size)
                .with_biggest_coalesce_batch_size(Some(batch_size / 2)),
            schema,
            inner: Some(stream),
            filters: self.filters.iter().map(|expr| FilterState::new(Arc::clone(expr))).collect(),
            ready: VecDeque::new(),
            pruned: MetricBuilder::new(&self.metrics).counter("pruned_rows", partition),
        }))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        vec![ChildStats::At(partition)]
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        _args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        let statistics = Arc::clone(&input_stats[0]);
        if self.filters.is_empty() {
            return Ok(statistics);
        }
        // Rows may be dropped: the counts are upper bounds now.
        Ok(Arc::new(Arc::unwrap_or_clone(statistics).to_inexact()))
    }

    fn cardinality_effect(&self) -> CardinalityEffect {
        CardinalityEffect::LowerEqual
    }

    fn gather_filters_for_pushdown(
        &self,
        _phase: FilterPushdownPhase,
        parent_filters: Vec<Arc<dyn PhysicalExpr>>,
        _config: &ConfigOptions,
    ) -> Result<FilterDescription> {
        // The filters stop here: below is the scan (or its FilterExecs), which cannot use them.
        Ok(FilterDescription::new().with_child(ChildFilterDescription::all_unsupported(&parent_filters)))
    }

    fn handle_child_pushdown_result(
        &self,
        _phase: FilterPushdownPhase,
        child_pushdown_result: ChildPushdownResult,
        _config: &ConfigOptions,
    ) -> Result<FilterPushdownPropagation<Arc<dyn ExecutionPlan>>> {
        let filters: Vec<_> = child_pushdown_result.parent_filters.into_iter().map(|result| result.filter).collect();
        // Static filters stay in their FilterExec above, which runs them anyway; every filter is
        // reported as not pushed down, so the operators above keep doing their own work.
        let propagation = FilterPushdownPropagation::with_parent_pushdown_result(vec![PushedDown::No; filters.len()]);
        let dynamic: Vec<_> =
            filters.into_iter().filter(|filter| filter.downcast_ref::<DynamicFilterPhysicalExpr>().is_some()).collect();
        if dynamic.is_empty() {
            return Ok(propagation);
        }
        let mut node = self.with_input(Arc::clone(&self.input));
        node.filters.extend(dynamic);
        Ok(propagation.with_updated_node(Arc::new(node) as Arc<dyn ExecutionPlan>))
    }
}

/// One dynamic filter as a scan applies it: whether it is worth applying, judged per version.
struct FilterState {
    expr: Arc<dyn PhysicalExpr>,
    generation: u64,
    rows_in: usize,
    rows_kept: usize,
    active: bool,
}

impl FilterState {
    fn new(expr: Arc<dyn PhysicalExpr>) -> Self {
        Self { expr, generation: 0, rows_in: 0, rows_kept: 0, active: true }
    }

    /// The rows of `batch` this filter keeps; None: it keeps them all or is switched off.
    fn mask(&mut self, batch: &RecordBatch) -> Result<Option<BooleanArray>> {
        let generation = self.expr.snapshot_generation();
        if generation != self.generation {
            // A new version of the filter (the join's build side is complete, a TopK bound
            // tightened): judge it afresh.
            *self = Self { generation, ..Self::new(Arc::clone(&self.expr)) };
        }
        if !self.active {
            return Ok(None);
        }
        let Some(dynamic) = self.expr.downcast_ref::<DynamicFilterPhysicalExpr>() else { return Ok(None) };
        let current = dynamic.current()?;
        if let Some(literal) = current.downcast_ref::<Literal>() {
            if literal.value() == &ScalarValue::Boolean(Some(true)) {
                return Ok(None); // not yet set (or nothing to filter): every row passes
            }
        }
        let mask = match current.evaluate(batch)? {
            ColumnarValue::Array(array) => {
                let mask = array.as_any().downcast_ref::<BooleanArray>().cloned().ok_or_else(|| {
                    datafusion::error::DataFusionError::Internal(format!(
                        "a dynamic filter gave {} values, not booleans",
                        array.data_type()
                    ))
                })?;
                if mask.null_count() > 0 {
                    prep_null_mask_filter(&mask)
                } else {
                    mask
                }
            }
            ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))) => return Ok(None),
            ColumnarValue::Scalar(_) => BooleanArray::from(vec![false; batch.num_rows()]),
        };
        self.rows_in += batch.num_rows();
        self.rows_kept += mask.true_count();
        if self.rows_in >= JUDGE_AFTER_ROWS && self.rows_kept as f64 > self.rows_in as f64 * KEEPS_TOO_MANY {
            self.active = false;
        }
        Ok(Some(mask))
    }
}

/// The inner scan's batches with the filters applied, coalesced back to the batch size.
struct FilteredStream {
    schema: SchemaRef,
    inner: Option<SendableRecordBatchStream>,
    filters: Vec<FilterState>,
    coalescer: BatchCoalescer,
    ready: VecDeque<RecordBatch>,
    pruned: Count,
}

impl FilteredStream {
    fn push(&mut self, batch: RecordBatch) -> Result<()> {
        let mut mask: Option<BooleanArray> = None;
        for filter in &mut self.filters {
            if let Some(next) = filter.mask(&batch)? {
                mask = Some(match mask {
                    Some(previous) => and(&previous, &next)?,
                    None => next,
                });
            }
        }
        match mask {
            Some(mask) => {
                self.pruned.add(batch.num_rows() - mask.true_count());
                self.coalescer.push_batch_with_filter(batch, &mask)?
            }
            None => self.coalescer.push_batch(batch)?,
        }
        while let Some(batch) = self.coalescer.next_completed_batch() {
            self.ready.push_back(batch);
        }
        Ok(())
    }
}

impl Stream for FilteredStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(batch) = self.ready.pop_front() {
                return Poll::Ready(Some(Ok(batch)));
            }
            let Some(inner) = self.inner.as_mut() else { return Poll::Ready(None) };
            // The inner scan is cooperative: it returns Pending once the task's budget is
            // spent, so a run of batches the filters drop entirely still yields.
            match inner.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(batch))) => {
                    if let Err(error) = self.push(batch) {
                        self.inner = None;
                        return Poll::Ready(Some(Err(error)));
                    }
                }
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error))),
                Poll::Ready(None) => {
                    self.inner = None;
                    if let Err(error) = self.coalescer.finish_buffered_batch() {
                        return Poll::Ready(Some(Err(error.into())));
                    }
                    while let Some(batch) = self.coalescer.next_completed_batch() {
                        self.ready.push_back(batch);
                    }
                }
            }
        }
    }
}

impl RecordBatchStream for FilteredStream {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}
