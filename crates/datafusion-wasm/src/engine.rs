//! The engine proper: plain Rust over DataFusion, no JavaScript types, so it runs natively too.

use std::collections::HashSet;
use std::fmt;
use std::io::Cursor;
use std::sync::Arc;

use arrow::array::{ArrayData, ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use datafusion::catalog::default_table_source::source_as_provider;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::TableReference;
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::MemoryConsumer;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::{SessionState, SessionStateBuilder, SessionStateDefaults};
use datafusion::logical_expr::registry::{ExtensionTypeRegistry, MemoryExtensionTypeRegistry};
use datafusion::logical_expr::{DdlStatement, DmlStatement, LogicalPlan, Statement as PlanStatement, WriteOp};
use datafusion::physical_plan::execute_stream;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;
use qe_tracing::{error, fmetric, imetric, info, span_scope};

use crate::ipc_guard::{self, IpcLimits};
use crate::{output_guard, sql_guard, udf};

pub use datafusion::DATAFUSION_VERSION;

/// What went wrong, with the operation and the table or statement it concerned.
#[derive(Debug)]
pub enum EngineError {
    /// The bytes given to `register_table` are not a usable Arrow IPC stream.
    InvalidIpc { table: String, reason: String },
    /// No table of that name is registered (`near`: registered names that differ only in case).
    UnknownTable { name: String, near: Vec<String> },
    /// DataFusion rejected or failed the statement (parse, plan or execution error).
    Sql { sql: String, message: String },
    /// Anything else DataFusion or Arrow reported (registration, serialisation).
    Internal { context: String, message: String },
    /// Registering would make the tables hold more than the table memory limit.
    TableMemoryLimit { context: String, table_bytes: usize, others_bytes: usize, limit_bytes: usize },
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::InvalidIpc { table, reason } => {
                write!(f, "register_table('{table}'): not a valid Arrow IPC stream: {reason}")
            }
            EngineError::UnknownTable { name, near } => {
                write!(
                    f,
                    "no table named '{name}' is registered (register it with register_table or execute_and_register; table_names() lists what is there)"
                )?;
                if !near.is_empty() {
                    write!(f, "; names are case-sensitive, and these differ only in case: {}", near.join(", "))?;
                }
                Ok(())
            }
            EngineError::Sql { sql, message } => {
                let shown: String = sql.chars().take(200).collect();
                let more = if shown.len() < sql.len() { "..." } else { "" };
                write!(f, "SQL failed: {message}\n  statement: {shown}{more}")
            }
            EngineError::Internal { context, message } => write!(f, "{context}: {message}"),
            EngineError::TableMemoryLimit { context, table_bytes, others_bytes, limit_bytes } => write!(
                f,
                "{context}: refused: the tables would hold {} bytes ({}: this one {}, the others {}), over \
                 the table memory limit of {limit_bytes} bytes ({}). Deregister tables you no longer \
                 need, or raise the limit with set_table_memory_limit (0: no limit)",
                table_bytes + others_bytes,
                mib(table_bytes + others_bytes),
                mib(*table_bytes),
                mib(*others_bytes),
                mib(*limit_bytes)
            ),
        }
    }
}

impl std::error::Error for EngineError {}

/// Bytes as MiB with two decimals: "12.50 MiB".
fn mib(bytes: usize) -> String {
    format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
}

type Result<T> = std::result::Result<T, EngineError>;

fn internal(context: &str) -> impl FnOnce(String) -> EngineError + '_ {
    move |message| EngineError::Internal { context: context.to_string(), message }
}

fn internal_owned(context: String) -> impl FnOnce(String) -> EngineError {
    move |message| EngineError::Internal { context, message }
}

/// The end-of-stream marker: a continuation token followed by a zero length. Writers add it
/// when they are closed; a stream without it was cut short.
const IPC_EOS: [u8; 8] = [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0];
/// Pre-1.0 writers end with a bare zero length.
const IPC_LEGACY_EOS: [u8; 4] = [0, 0, 0, 0];
/// The IPC *file* format starts with this magic; StreamReader cannot read it.
const IPC_FILE_MAGIC: &[u8] = b"ARROW1";

/// The memory DataFusion's operators (hash tables, sorts, the collected result) may use before a
/// statement fails with "Resources exhausted" instead of growing wasm memory past what wasm32
/// addresses (4 GiB) and trapping. Why not lower: DataFusion's accounting counts a shared batch
/// once per holder, so over one 1M-row batch a window query reserved over 1 GiB and a TopK 1 GiB
/// (measured natively and in the browser) for a few tens of MB of data; 1 GiB refused them.
/// `SET datafusion.runtime.memory_limit = '...'` changes it and `RESET` restores this default.
pub const DEFAULT_MEMORY_LIMIT: &str = "3G";

/// `datafusion.execution.perfect_hash_join_min_key_density` in a new engine (DataFusion: 0.15);
/// see `Engine::new`. `SET` changes it.
pub const PERFECT_HASH_JOIN_MIN_KEY_DENSITY: f64 = 0.01;

/// `datafusion.execution.perfect_hash_join_small_build_threshold` in a new engine (DataFusion:
/// 1,024): a join whose build keys span fewer values than this indexes an array whatever their
/// density; see `Engine::new`. `SET` changes it.
pub const PERFECT_HASH_JOIN_SMALL_RANGE: usize = 262_144;

/// Runtime settings that would give DataFusion a directory to spill to. There is no file system
/// in the browser: looking one up trapped the module, so they are refused.
const DISK_SETTINGS: [&str; 2] = ["datafusion.runtime.temp_directory", "datafusion.runtime.max_temp_directory_size"];

/// The parser's own recursion limit (50 by default), which a statement may raise with SET.
const PARSER_RECURSION_SETTING: &str = "datafusion.sql_parser.recursion_limit";

/// Settings that size buffers up front, with the largest value the browser engine takes. Operators
/// allocate `batch_size` rows ahead (range(), the coalescers), and one stream per partition: with
/// `batch_size = 2000000000` the next range() asked for 16 GB, the allocation failed and the module
/// trapped. The caps are far above what helps in one wasm32 thread (defaults: 8,192 rows, and 1
/// partition, which this engine sets).
const SIZED_SETTINGS: [(&str, usize, &str); 2] = [
    ("datafusion.execution.batch_size", 1 << 20, "rows per batch are allocated ahead, in a 4 GiB memory"),
    ("datafusion.execution.target_partitions", 64, "each partition is a stream of its own, on one thread"),
];

/// One DataFusion session holding the registered tables.
///
/// Table names are exact: `register_table("MyTable", ..)` registers `MyTable`, and every method
/// that takes a name (execute_and_register, read_table_ipc, deregister_table) matches it exactly,
/// case and all. In SQL the usual rules apply: unquoted identifiers are lowercased, so such a
/// table is `SELECT * FROM "MyTable"`; a lowercase name needs no quotes.
pub struct Engine {
    ctx: SessionContext,
    // Some operators spawn tokio tasks (EXPLAIN ANALYZE's AnalyzeExec, for one), and
    // `tokio::spawn` panics outside a runtime, which on wasm32 is an abort that kills the
    // instance. Every statement therefore runs inside this current-thread runtime: the browser
    // has no threads to block, and in-memory tables never wait on I/O, so `block_on` only
    // interleaves the spawned tasks and never has to park.
    runtime: tokio::runtime::Runtime,
    /// Milliseconds a statement may run (0: no limit); checked whenever the plan yields.
    statement_timeout_ms: std::cell::Cell<f64>,
    /// WebAssembly UDF modules registered with `register_udf` (udf.rs).
    udfs: udf::UdfRegistry,
    /// The most the registered tables may hold together, in bytes (0: no limit).
    table_memory_limit: std::cell::Cell<usize>,
}

/// What one registered table holds (`Engine::memory_usage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableMemory {
    pub name: String,
    /// "table" (its batches are in memory) or "view" (a stored query: holds no rows).
    pub kind: &'static str,
    pub rows: usize,
    /// The bytes its batches hold: every buffer allocation once, at its capacity.
    pub bytes: usize,
}

/// The engine's memory, as `memory_usage()` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Sorted by name.
    pub tables: Vec<TableMemory>,
    /// What the tables hold together: a buffer two tables share counts once.
    pub tables_bytes: usize,
    /// The WebAssembly memory's size (None natively): what the tab has given this instance.
    pub wasm_memory_bytes: Option<usize>,
    /// The table memory limit (None: no limit).
    pub limit_bytes: Option<usize>,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

impl Engine {
    pub fn new() -> Self {
        // One partition: with more, DataFusion spawns tasks that need a tokio reactor, which
        // the browser does not have.
        let mut config = SessionConfig::new().with_target_partitions(1).with_information_schema(true);
        // Joins on integer keys index an array by key (DataFusion's perfect hash join) when the
        // build side's keys fill at least 1% of their range, not DataFusion's 15%: hashing and
        // probing cost more in wasm than an array lookup, and filtered subsets of IDs (TPC-H's
        // orders of one year, parts of one brand) are 2-10% dense. TPC-H SF 1 in Chromium: 1.17x
        // over the 22 queries, q5 2.5x, q3 and q9 1.6x faster (docs/speed.md). The array costs 4 bytes
        // per key in the range, so at most 400 bytes per build row, reserved from the memory
        // pool like the hash table (over the limit: "Resources exhausted", not a trap).
        config.options_mut().execution.perfect_hash_join_min_key_density = PERFECT_HASH_JOIN_MIN_KEY_DENSITY;
        // And whatever the density when the keys span fewer than 262,144 values (DataFusion:
        // 1,024): at most 1 MiB of array, reserved the same way. The join's dynamic filter then
        // tests membership with an array lookup too, not a hash probe: TPC-H q17's 200 parts (of
        // a 194K key range) filter 6M lineitem rows under an aggregate, 3.1x faster in node; q8
        // 2.2x, q19 1.8x (docs/speed.md).
        config.options_mut().execution.perfect_hash_join_small_build_threshold = PERFECT_HASH_JOIN_SMALL_RANGE;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime without I/O or timer drivers needs no OS resources");
        info!("engine created (DataFusion {DATAFUSION_VERSION}, 1 partition)");
        let engine = Engine {
            ctx: SessionContext::new_with_state(browser_session_state(config)),
            runtime,
            statement_timeout_ms: std::cell::Cell::new(0.0),
            udfs: udf::UdfRegistry::default(),
            table_memory_limit: std::cell::Cell::new(0),
        };
        engine.apply_default_memory_limit();
        engine
    }

    fn apply_default_memory_limit(&self) {
        let set = format!("SET datafusion.runtime.memory_limit = '{DEFAULT_MEMORY_LIMIT}'");
        self.runtime
            .block_on(async { self.ctx.sql(&set).await?.collect().await })
            .expect("the default memory limit is a valid setting");
    }

    /// A statement that runs longer than `ms` milliseconds fails with "statement timeout"
    /// (0 turns the limit off). The deadline is checked each time the running plan yields
    /// (DataFusion's operators yield every few batches), not at an exact instant.
    pub fn set_statement_timeout_ms(&self, ms: f64) {
        self.statement_timeout_ms.set(if ms.is_finite() && ms > 0.0 { ms } else { 0.0 });
    }

    /// Registering a table (register_table, execute_and_register, CREATE TABLE ... AS) fails with
    /// an error naming the sizes once the tables would hold more than `bytes` together (0: no
    /// limit, the default). Tables already registered stay.
    pub fn set_table_memory_limit(&self, bytes: usize) {
        self.table_memory_limit.set(bytes);
    }

    /// Bytes per registered table, their total and the WebAssembly memory's size.
    pub fn memory_usage(&self) -> MemoryUsage {
        let mut everything = HashSet::new();
        let mut tables_bytes = 0;
        let mut tables = Vec::new();
        for (name, batches) in self.table_batches() {
            let Some(batches) = batches else {
                tables.push(TableMemory { name, kind: "view", rows: 0, bytes: 0 });
                continue;
            };
            let bytes = held_bytes(&batches, &mut HashSet::new());
            tables_bytes += held_bytes(&batches, &mut everything);
            tables.push(TableMemory { name, kind: "table", rows: row_count(&batches), bytes });
        }
        let limit = self.table_memory_limit.get();
        MemoryUsage {
            tables,
            tables_bytes,
            wasm_memory_bytes: wasm_memory_bytes(),
            limit_bytes: (limit > 0).then_some(limit),
        }
    }

    /// Every registered table with its batches (None for a view or any provider that is not a
    /// MemTable), sorted by name. MemTable's batches are Arcs: nothing is copied.
    fn table_batches(&self) -> Vec<(String, Option<Vec<RecordBatch>>)> {
        let schema = self.default_schema();
        self.table_names()
            .into_iter()
            .map(|name| {
                let provider = self.runtime.block_on(schema.table(&name)).ok().flatten();
                let batches = provider.as_ref().and_then(|p| p.downcast_ref::<MemTable>()).map(|table| {
                    // One thread, and no statement running: the partitions are never write-locked here.
                    table.batches.iter().filter_map(|p| p.try_read().ok().map(|b| b.clone())).flatten().collect()
                });
                (name, batches)
            })
            .collect()
    }

    /// Refuses `batches` as table `name` when the tables would then hold more than the limit
    /// (a table of that name being replaced does not count).
    fn check_table_memory(&self, context: &str, name: &str, batches: &[RecordBatch]) -> Result<()> {
        let limit = self.table_memory_limit.get();
        if limit == 0 {
            return Ok(());
        }
        let mut seen = HashSet::new();
        let others_bytes: usize = self
            .table_batches()
            .into_iter()
            .filter(|(other, _)| other != name)
            .filter_map(|(_, b)| b)
            .map(|b| held_bytes(&b, &mut seen))
            .sum();
        let table_bytes = held_bytes(batches, &mut seen);
        if others_bytes + table_bytes > limit {
            return Err(EngineError::TableMemoryLimit {
                context: context.to_string(),
                table_bytes,
                others_bytes,
                limit_bytes: limit,
            });
        }
        Ok(())
    }

    fn default_schema(&self) -> Arc<dyn SchemaProvider> {
        let options = self.ctx.copied_config();
        let catalog_options = &options.options().catalog;
        self.ctx
            .catalog(&catalog_options.default_catalog)
            .and_then(|catalog| catalog.schema(&catalog_options.default_schema))
            .expect("the default catalog and schema always exist")
    }

    pub fn register_table(&self, name: &str, ipc_stream: &[u8]) -> Result<usize> {
        span_scope!("register_table");
        logged((|| {
            let (schema, batches) = decode_ipc_stream(name, ipc_stream)?;
            let rows = row_count(&batches);
            self.replace_table(name, schema, batches)?;
            log_registration(name, rows, ipc_stream.len(), "");
            Ok(rows)
        })())
    }

    pub fn execute_sql(&self, sql: &str) -> Result<Vec<u8>> {
        span_scope!("execute_sql");
        let started_us = qe_tracing::time::now();
        logged((|| {
            let (schema, batches) = self.run(sql)?;
            let bytes = encode_ipc_stream_for_js(&schema, &batches)?;
            log_query(sql, started_us, row_count(&batches), bytes.len());
            Ok(bytes)
        })())
    }

    pub fn execute_and_register(&self, sql: &str, name: &str) -> Result<Vec<u8>> {
        span_scope!("execute_and_register");
        let started_us = qe_tracing::time::now();
        logged((|| {
            let (schema, batches) = self.run(sql)?;
            let bytes = encode_ipc_stream_for_js(&schema, &batches)?;
            let rows = row_count(&batches);
            log_query(sql, started_us, rows, bytes.len());
            self.replace_table(name, schema, batches)?;
            log_registration(name, rows, bytes.len(), " from the query");
            Ok(bytes)
        })())
    }

    /// Runs one statement; its result as batches of the types `execute_sql`'s IPC has (view types
    /// cast for apache-arrow JS), for the C Data Interface export (ffi.rs).
    pub fn execute_sql_batches(&self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        span_scope!("execute_sql_batches");
        let started_us = qe_tracing::time::now();
        logged((|| {
            let (schema, batches) = self.run(sql)?;
            let (schema, batches) = batches_for_js(&schema, &batches)?;
            // The bytes the exported buffers hold (no IPC is written on this path).
            log_query(sql, started_us, row_count(&batches), held_bytes(&batches, &mut HashSet::new()));
            Ok((schema, batches))
        })())
    }

    /// The contents of table `name` as `read_table_ipc` gives them, as batches (see above).
    pub fn read_table_batches(&self, name: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        logged(self.read_table(name).and_then(|(schema, batches)| batches_for_js(&schema, &batches)))
    }

    pub fn read_table_ipc(&self, name: &str) -> Result<Vec<u8>> {
        logged(self.read_table(name).and_then(|(schema, batches)| encode_ipc_stream_for_js(&schema, &batches)))
    }

    fn read_table(&self, name: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let failed = |e: DataFusionError| EngineError::Internal {
            context: format!("reading table '{name}'"),
            message: e.to_string(),
        };
        let provider = self
            .runtime
            .block_on(self.default_schema().table(name))
            .map_err(failed)?
            .ok_or_else(|| self.unknown_table(name))?;
        let frame = self.ctx.read_table(provider).map_err(failed)?;
        self.collect_plan(frame.logical_plan().clone(), &failed)
    }

    pub fn deregister_table(&self, name: &str) -> Result<()> {
        logged(match self.ctx.deregister_table(TableReference::bare(name)) {
            Ok(Some(_)) => {
                info!("deregistered table '{name}'");
                Ok(())
            }
            Ok(None) => Err(self.unknown_table(name)),
            Err(e) => {
                Err(EngineError::Internal { context: format!("deregister_table('{name}')"), message: e.to_string() })
            }
        })
    }

    pub fn reset(&self) {
        let schema = self.default_schema();
        let names = schema.table_names();
        for name in &names {
            // Deregistering a name that table_names() just listed cannot fail for a memory schema.
            let _ = schema.deregister_table(name);
        }
        info!("reset: removed {} tables", names.len());
    }

    /// Registers the batch-style functions of a UDF module (docs/udf-abi.md) as SQL functions;
    /// returns their names. Browser build only (the module runs in its own WebAssembly instance).
    pub fn register_udf(&self, name: &str, wasm: &[u8]) -> Result<Vec<String>> {
        logged(self.udfs.register(&self.ctx, name, wasm).map_err(internal_owned(format!("register_udf('{name}')"))))
    }

    /// Removes the functions of UDF module `name`, restoring the built-ins they replaced.
    pub fn deregister_udf(&self, name: &str) -> Result<()> {
        logged(self.udfs.deregister(&self.ctx, name).map_err(internal_owned(format!("deregister_udf('{name}')"))))
    }

    pub fn table_names(&self) -> Vec<String> {
        let mut names = self.default_schema().table_names();
        names.sort();
        names
    }

    /// UnknownTable, naming a registered table that differs only in case, if there is one.
    fn unknown_table(&self, name: &str) -> EngineError {
        let near: Vec<String> =
            self.table_names().into_iter().filter(|t| t.eq_ignore_ascii_case(name) && t != name).collect();
        EngineError::UnknownTable { name: name.to_string(), near }
    }

    fn run(&self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let sql_error =
            |e: DataFusionError| EngineError::Sql { sql: sql.to_string(), message: self.hint(e.to_string()) };
        let state = self.ctx.state();
        let dialect = state.config().options().sql_parser.dialect;
        let statement = state.sql_to_statement(sql, &dialect).map_err(sql_error)?;
        if let Err(too_deep) = sql_guard::check_statement(&statement) {
            // Dropping a very deep tree recurses as deep as it is: the overflow this check
            // prevents. A refused statement's memory (bounded by the SQL text) is left behind.
            std::mem::forget(statement);
            return Err(EngineError::Sql { sql: sql.to_string(), message: too_deep.to_string() });
        }
        let plan = self.runtime.block_on(state.statement_to_plan(statement)).map_err(sql_error)?;
        let resets_memory_limit =
            check_runtime_setting(&plan).map_err(|message| EngineError::Sql { sql: sql.to_string(), message })?;
        let created = match &plan {
            LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create)) => Some(create.name.clone()),
            _ => None,
        };
        let inserting = match &plan {
            LogicalPlan::Dml(dml @ DmlStatement { op: WriteOp::Insert(_), .. }) => self.insert_snapshot(dml),
            _ => None,
        };
        let result = self.collect_plan(plan, &sql_error);
        if let (Ok(_), Some(created)) = (&result, created) {
            self.check_created_table(sql, created)?;
        }
        if let (Ok(_), Some(snapshot)) = (&result, inserting) {
            self.check_inserted(sql, snapshot)?;
        }
        if resets_memory_limit {
            self.apply_default_memory_limit();
        }
        result
    }

    /// CREATE TABLE ... AS registers its table inside DataFusion, past `replace_table`: over the
    /// limit, the new table is dropped again (under OR REPLACE the table it replaced is gone).
    fn check_created_table(&self, sql: &str, created: TableReference) -> Result<()> {
        let name = created.table().to_string();
        let batches = self.table_batches().into_iter().find(|(n, _)| *n == name).and_then(|(_, b)| b);
        let Some(batches) = batches else { return Ok(()) };
        if let Err(over) = self.check_table_memory("CREATE TABLE", &name, &batches) {
            let _ = self.ctx.deregister_table(created);
            return Err(EngineError::Sql {
                sql: sql.to_string(),
                message: format!("{over}; table '{name}' was not created"),
            });
        }
        Ok(())
    }

    /// Under a table memory limit, the partitions of the MemTable an INSERT writes into, as they
    /// are before it (Arcs: nothing is copied), so an insert past the limit can be undone.
    fn insert_snapshot(&self, dml: &DmlStatement) -> Option<InsertSnapshot> {
        if self.table_memory_limit.get() == 0 {
            return None;
        }
        let provider = source_as_provider(&dml.target).ok()?;
        let table = provider.downcast_ref::<MemTable>()?;
        // One thread, and no statement running: the partitions are never write-locked here.
        let partitions = table.batches.iter().map(|p| p.try_read().ok().map(|b| b.clone())).collect::<Option<_>>()?;
        Some(InsertSnapshot { name: dml.table_name.table().to_string(), provider, partitions })
    }

    /// INSERT INTO appends inside DataFusion, past `replace_table`: over the limit, the table's
    /// partitions are put back as they were, so the statement changes nothing.
    fn check_inserted(&self, sql: &str, snapshot: InsertSnapshot) -> Result<()> {
        let Some(table) = snapshot.provider.downcast_ref::<MemTable>() else { return Ok(()) };
        let batches: Vec<RecordBatch> =
            table.batches.iter().filter_map(|p| p.try_read().ok().map(|b| b.clone())).flatten().collect();
        if let Err(over) = self.check_table_memory("INSERT INTO", &snapshot.name, &batches) {
            for (partition, before) in table.batches.iter().zip(snapshot.partitions) {
                if let Ok(mut current) = partition.try_write() {
                    *current = before;
                }
            }
            return Err(EngineError::Sql {
                sql: sql.to_string(),
                message: format!("{over}; no rows were inserted into '{}'", snapshot.name),
            });
        }
        Ok(())
    }

    /// A table-not-found message gets the registered name that differs only in case, quoted.
    fn hint(&self, message: String) -> String {
        if !message.contains("not found") {
            return message;
        }
        for name in self.table_names() {
            let lowered = name.to_lowercase();
            // DataFusion names the table fully qualified: 'datafusion.public.mytable'.
            if lowered != name
                && (message.contains(&format!("'{lowered}'")) || message.contains(&format!(".{lowered}'")))
            {
                return format!("{message} (a table \"{name}\" is registered: unquoted names are lowercased in SQL, write \"{name}\" in double quotes)");
            }
        }
        message
    }

    /// Executes a logical plan inside the engine's runtime and returns the batches exactly as the
    /// physical plan produced them, with the schema they have (see `result_schema`).
    fn collect_plan(
        &self,
        plan: LogicalPlan,
        on_error: &dyn Fn(DataFusionError) -> EngineError,
    ) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let timeout_ms = self.statement_timeout_ms.get();
        let started_ms = qe_tracing::time::now() as f64 / 1000.0;
        let collected = self.runtime.block_on(with_deadline(timeout_ms, started_ms, async {
            let frame = self.ctx.execute_logical_plan(plan).await?;
            let task = Arc::new(frame.task_ctx());
            let physical = frame.create_physical_plan().await?;
            let plan_schema = physical.schema();
            // The result is held in memory until it is encoded: it counts against the memory
            // limit like any operator's state, so a join that explodes is "Resources exhausted".
            let reservation = MemoryConsumer::new("datafusion-wasm result").register(task.memory_pool());
            let mut stream = execute_stream(physical, task)?;
            let mut batches = Vec::new();
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                reservation.try_grow(batch.get_array_memory_size())?;
                batches.push(batch);
            }
            reservation.free();
            Ok::<_, DataFusionError>((plan_schema, batches))
        }));
        let (plan_schema, batches) = collected.map_err(on_error)?;
        result_schema(&plan_schema, batches)
            .map_err(|message| EngineError::Internal { context: "collecting the result".into(), message })
    }

    fn replace_table(&self, name: &str, schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<()> {
        let context = format!("register_table('{name}')");
        self.check_table_memory(&context, name, &batches)?;
        // The columns already sorted, declared so that DataFusion can stream over them
        // (src/sort_order.rs).
        let sort_order = crate::sort_order::sorted_columns(&schema, &batches);
        let table = MemTable::try_new(schema, vec![batches])
            .map_err(|e| EngineError::Internal { context: context.clone(), message: e.to_string() })?
            .with_sort_order(sort_order);
        // Build the new table before dropping the old one, so a failure leaves the old intact.
        // `bare`: the name as given, not parsed as SQL (no lowercasing, dots are part of it).
        let reference = TableReference::bare(name);
        self.ctx
            .deregister_table(reference.clone())
            .map_err(|e| EngineError::Internal { context: context.clone(), message: e.to_string() })?;
        self.ctx
            .register_table(reference, Arc::new(table))
            .map_err(|e| EngineError::Internal { context, message: e.to_string() })?;
        Ok(())
    }
}

/// A MemTable's partitions before an INSERT (`insert_snapshot`).
struct InsertSnapshot {
    name: String,
    provider: Arc<dyn TableProvider>,
    partitions: Vec<Vec<RecordBatch>>,
}

/// Refuses the settings that would point DataFusion at a disk or let its parser recurse past
/// what the browser's stack holds; says whether the statement resets
/// the memory limit (DataFusion's reset means "unlimited"; the engine restores its default).
fn check_runtime_setting(plan: &LogicalPlan) -> std::result::Result<bool, String> {
    let variable = match plan {
        LogicalPlan::Statement(PlanStatement::SetVariable(set)) => set.variable.to_ascii_lowercase(),
        LogicalPlan::Statement(PlanStatement::ResetVariable(reset)) => reset.variable.to_ascii_lowercase(),
        _ => return Ok(false),
    };
    if let LogicalPlan::Statement(PlanStatement::SetVariable(set)) = plan {
        if let Some((_, max, why)) = SIZED_SETTINGS.iter().find(|(name, _, _)| *name == variable) {
            let within = set.value.trim().parse::<usize>().is_ok_and(|n| (1..=*max).contains(&n));
            if !within {
                return Err(format!(
                    "{variable} must be between 1 and {max} in the browser engine (asked: {}): {why}",
                    set.value
                ));
            }
        }
        if variable == PARSER_RECURSION_SETTING {
            let within = set.value.trim().parse::<usize>().is_ok_and(|limit| limit <= sql_guard::MAX_PARSER_RECURSION);
            if !within {
                return Err(format!(
                    "{variable} can be at most {} in the browser engine (asked: {}): the parser recurses once \
                     per level of nesting on the browser's stack, and 5,000 levels of parentheses overflowed it",
                    sql_guard::MAX_PARSER_RECURSION,
                    set.value
                ));
            }
        }
    }
    if DISK_SETTINGS.contains(&variable.as_str()) {
        return Err(format!(
            "{variable} cannot be set in the browser engine: there is no file system to spill to. \
             A statement that needs more memory than datafusion.runtime.memory_limit fails with \
             \"Resources exhausted\" instead"
        ));
    }
    Ok(matches!(plan, LogicalPlan::Statement(PlanStatement::ResetVariable(_)))
        && variable == "datafusion.runtime.memory_limit")
}

/// Runs `work`, failing with "statement timeout" once `timeout_ms` (0: never) have passed since
/// `started_ms`. The clock is read each time the runtime polls the statement, which DataFusion's
/// cooperative operators cause every few batches.
async fn with_deadline<T>(
    timeout_ms: f64,
    started_ms: f64,
    work: impl std::future::Future<Output = datafusion::error::Result<T>>,
) -> datafusion::error::Result<T> {
    let mut work = std::pin::pin!(work);
    std::future::poll_fn(|cx| {
        if timeout_ms > 0.0 {
            let elapsed = qe_tracing::time::now() as f64 / 1000.0 - started_ms;
            if elapsed > timeout_ms {
                return std::task::Poll::Ready(Err(DataFusionError::Execution(format!(
                    "statement timeout: stopped after {elapsed:.0} ms (the limit is {timeout_ms:.0} ms; set_statement_timeout_ms changes it)"
                ))));
            }
        }
        work.as_mut().poll(cx)
    })
    .await
}

/// The result's schema, taken from the batches the physical plan produced, never from the
/// statement's logical schema: in DataFusion 55 the two can differ (a UNION ALL of Timestamp(s)
/// and Timestamp(ms), CASE over structs with fields in different orders, a NULL-typed column that
/// is Int64 in the batches, a nullability the data does not keep), and casting the batches to the
/// logical schema changed data silently or failed. Nullability is widened where a batch has
/// nulls; batches that disagree on a column's type are an error that names it.
fn result_schema(
    plan_schema: &SchemaRef,
    batches: Vec<RecordBatch>,
) -> std::result::Result<(SchemaRef, Vec<RecordBatch>), String> {
    let reference = batches.first().map(|b| b.schema()).unwrap_or_else(|| plan_schema.clone());
    let mut fields: Vec<Field> = reference.fields().iter().map(|f| Field::clone(f)).collect();
    for batch in &batches {
        if batch.num_columns() != fields.len() {
            return Err(format!("the plan produced batches with {} and {} columns", fields.len(), batch.num_columns()));
        }
        for (field, (column, batch_field)) in fields.iter_mut().zip(batch.columns().iter().zip(batch.schema().fields()))
        {
            if column.data_type() != field.data_type() {
                return Err(format!(
                    "column '{}' has type {} in one result batch and {} in another; refusing to convert it",
                    field.name(),
                    field.data_type(),
                    column.data_type()
                ));
            }
            if (batch_field.is_nullable() || column.null_count() > 0) && !field.is_nullable() {
                *field = field.clone().with_nullable(true);
            }
        }
    }
    let schema = Arc::new(Schema::new_with_metadata(fields, reference.metadata().clone()));
    let batches = batches
        .into_iter()
        .map(|batch| {
            if batch.schema() == schema {
                return Ok(batch);
            }
            let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
            RecordBatch::try_new_with_options(schema.clone(), batch.columns().to_vec(), &options)
                .map_err(|e| e.to_string())
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((schema, batches))
}

/// DataFusion's default session minus what needs a file system: no file formats (the CSV, JSON,
/// Arrow-file and Parquet readers) and no listing-table factories (CREATE EXTERNAL TABLE). A
/// browser engine gets its tables as IPC bytes; without these the linker drops their code
/// (about 0.1 MB of the gzipped module). Functions, planners and table functions are all there.
fn browser_session_state(config: SessionConfig) -> SessionState {
    let extension_types = MemoryExtensionTypeRegistry::new_empty();
    extension_types
        .extend(&SessionStateDefaults::default_extension_types())
        .expect("a new in-memory extension type registry accepts registrations");
    // No disk: spilling would look up a temporary directory, which traps on wasm32. With the disk
    // manager disabled, an operator over its memory budget fails with "Resources exhausted".
    let runtime = RuntimeEnvBuilder::new()
        .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled))
        .build_arc()
        .expect("a runtime without a disk manager needs no OS resources");
    SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_expr_planners(SessionStateDefaults::default_expr_planners())
        .with_scalar_functions(scalar_functions())
        .with_higher_order_functions(SessionStateDefaults::default_higher_order_functions())
        .with_aggregate_functions(aggregate_functions())
        .with_window_functions(SessionStateDefaults::default_window_functions())
        .with_table_function_list(SessionStateDefaults::default_table_functions())
        .with_extension_type_registry(Arc::new(extension_types))
        // Inner joins in the order of their estimated result sizes, not the FROM clause's
        // (src/join_order.rs); each filter's cheap comparisons before its string predicates and
        // functions (src/conjunct_order.rs).
        .with_optimizer_rules(crate::conjunct_order::with_rule(crate::join_order::optimizer_rules()))
        // Dynamic filters (from joins, TopK sorts, min/max aggregates) applied at the scans of
        // registered tables, which DataFusion's in-memory source ignores (src/scan_filters.rs).
        .with_physical_optimizer_rules(crate::scan_filters::physical_optimizer_rules())
        .build()
}

/// DataFusion's scalar functions (the ones that size their output from their arguments guarded),
/// and the engine's own (the `functions` feature).
fn scalar_functions() -> Vec<Arc<datafusion::logical_expr::ScalarUDF>> {
    #[allow(unused_mut)]
    let mut functions = output_guard::guard_functions(SessionStateDefaults::default_scalar_functions());
    #[cfg(feature = "functions")]
    functions.extend(crate::functions::scalar_functions());
    functions
}

/// DataFusion's aggregate functions and the engine's own (the `functions` feature).
fn aggregate_functions() -> Vec<Arc<datafusion::logical_expr::AggregateUDF>> {
    #[allow(unused_mut)]
    let mut functions = SessionStateDefaults::default_aggregate_functions();
    #[cfg(feature = "functions")]
    functions.extend(crate::functions::aggregate_functions());
    functions
}

/// Every error a public method returns passes through here once, on its way out: to the log.
fn logged<T>(result: Result<T>) -> Result<T> {
    if let Err(err) = &result {
        error!("{err}");
    }
    result
}

fn row_count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// The bytes `batches` hold that `seen` has not counted yet: every buffer allocation once, at its
/// capacity. Counting allocations, not arrays: the columns of an IPC-decoded batch are slices of
/// one message body, and a query's result shares its source's buffers; arrow's
/// `get_array_memory_size` would count such an allocation once per column or holder.
fn held_bytes(batches: &[RecordBatch], seen: &mut HashSet<usize>) -> usize {
    fn data_bytes(data: &ArrayData, seen: &mut HashSet<usize>) -> usize {
        let nulls = data.nulls().map(|n| n.buffer());
        let own: usize = data
            .buffers()
            .iter()
            .chain(nulls)
            .filter(|buffer| seen.insert(buffer.data_ptr().as_ptr() as usize))
            .map(|buffer| buffer.capacity())
            .sum();
        own + data.child_data().iter().map(|child| data_bytes(child, seen)).sum::<usize>()
    }
    batches.iter().flat_map(|b| b.columns()).map(|column| data_bytes(&column.to_data(), seen)).sum()
}

/// The WebAssembly memory's size in bytes; None natively.
fn wasm_memory_bytes() -> Option<usize> {
    #[cfg(target_arch = "wasm32")]
    return Some(core::arch::wasm32::memory_size(0) * 65536);
    #[cfg(not(target_arch = "wasm32"))]
    None
}

/// `bytes`: the Arrow IPC stream the table was registered from (or that the query returned).
fn log_registration(name: &str, rows: usize, bytes: usize, how: &str) {
    info!("registered table '{name}' ({rows} rows, {bytes} bytes){how}");
    imetric!("table_rows", "rows", rows as u64, tags: [("table", name)]);
    imetric!("table_ipc_bytes", "bytes", bytes as u64, tags: [("table", name)]);
}

/// Duration from the JS clock on wasm32 (qe_tracing::time; std::time panics there).
fn log_query(sql: &str, started_us: i64, rows_out: usize, bytes_out: usize) {
    let ms = (qe_tracing::time::now() - started_us) as f64 / 1000.0;
    info!("query ok in {ms:.2} ms: {rows_out} rows out ({bytes_out} bytes): {}", abbreviated(sql));
    fmetric!("query_duration", "ms", ms);
    imetric!("query_rows_out", "rows", rows_out as u64);
}

/// The statement on one line, cut at 120 characters.
fn abbreviated(sql: &str) -> String {
    let one_line = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(120) {
        Some((cut, _)) => format!("{}...", &one_line[..cut]),
        None => one_line,
    }
}

/// Reads a complete Arrow IPC stream: schema, record batches and the end-of-stream marker.
pub fn decode_ipc_stream(table: &str, bytes: &[u8]) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let invalid = |reason: String| EngineError::InvalidIpc { table: table.to_string(), reason };
    if bytes.is_empty() {
        return Err(invalid("the buffer is empty".into()));
    }
    if bytes.starts_with(IPC_FILE_MAGIC) {
        return Err(invalid(
            "these bytes are the Arrow IPC *file* format (they start with ARROW1); pass the \
             *stream* format instead (pyarrow.ipc.new_stream, tableToIPC(table, 'stream'))"
                .into(),
        ));
    }
    if !(bytes.ends_with(&IPC_EOS) || bytes.ends_with(&IPC_LEGACY_EOS)) {
        return Err(invalid(
            "the stream has no end-of-stream marker: it was truncated, or its writer was not closed".into(),
        ));
    }
    // arrow-rs trusts the lengths and offsets in the metadata: out-of-range ones panic (a trap
    // here), and 64-bit ones are cut to 32 bits on wasm32 (another column's bytes read as this
    // one's). Every one of them is checked against the input first.
    ipc_guard::validate_ipc_stream(bytes, &IpcLimits::default()).map_err(invalid)?;
    let reader = StreamReader::try_new(Cursor::new(bytes), None).map_err(|e| invalid(e.to_string()))?;
    let schema = reader.schema();
    let batches = reader.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| invalid(e.to_string()))?;
    Ok((schema, batches))
}

/// Writes batches as an IPC stream that apache-arrow JS 21 can decode (no view types).
pub fn encode_ipc_stream_for_js(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let context = "serialising the result to Arrow IPC";
    let js_schema = Arc::new(js_compatible_schema(schema));
    let mut buffer = Vec::new();
    {
        let mut writer =
            StreamWriter::try_new(&mut buffer, &js_schema).map_err(|e| internal(context)(e.to_string()))?;
        for batch in batches {
            let batch = cast_batch(batch, &js_schema).map_err(internal(context))?;
            writer.write(&batch).map_err(|e| internal(context)(e.to_string()))?;
        }
        writer.finish().map_err(|e| internal(context)(e.to_string()))?;
    }
    Ok(buffer)
}

/// The batches with every view type cast to its plain counterpart, as the IPC output has them.
pub fn batches_for_js(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let context = "converting the result for JavaScript";
    let js_schema = Arc::new(js_compatible_schema(schema));
    let batches = batches
        .iter()
        .map(|batch| cast_batch(batch, &js_schema).map_err(internal(context)))
        .collect::<Result<Vec<_>>>()?;
    Ok((js_schema, batches))
}

/// The schema with every view type replaced by its plain counterpart, at any depth.
pub fn js_compatible_schema(schema: &Schema) -> Schema {
    let fields: Vec<FieldRef> = schema.fields().iter().map(js_compatible_field).collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

fn js_compatible_field(field: &FieldRef) -> FieldRef {
    let data_type = js_compatible_type(field.data_type());
    if &data_type == field.data_type() {
        field.clone()
    } else {
        Arc::new(Field::clone(field).with_data_type(data_type))
    }
}

/// apache-arrow JS up to 21.x cannot decode Utf8View, BinaryView or the list views.
pub fn js_compatible_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        DataType::ListView(field) | DataType::List(field) => DataType::List(js_compatible_field(field)),
        DataType::LargeListView(field) | DataType::LargeList(field) => DataType::LargeList(js_compatible_field(field)),
        DataType::FixedSizeList(field, size) => DataType::FixedSizeList(js_compatible_field(field), *size),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(js_compatible_field).collect::<Fields>()),
        DataType::Map(field, sorted) => DataType::Map(js_compatible_field(field), *sorted),
        DataType::Dictionary(key, value) => DataType::Dictionary(key.clone(), Box::new(js_compatible_type(value))),
        other => other.clone(),
    }
}

fn cast_batch(batch: &RecordBatch, target: &SchemaRef) -> std::result::Result<RecordBatch, String> {
    let columns = batch
        .columns()
        .iter()
        .zip(target.fields())
        .map(|(column, field)| -> std::result::Result<ArrayRef, String> {
            if column.data_type() == field.data_type() {
                Ok(column.clone())
            } else {
                cast(column, field.data_type()).map_err(|e| {
                    format!(
                        "cannot convert column '{}' from {} to {}: {e}",
                        field.name(),
                        column.data_type(),
                        field.data_type()
                    )
                })
            }
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    RecordBatch::try_new(target.clone(), columns).map_err(|e| e.to_string())
}
