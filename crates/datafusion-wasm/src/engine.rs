//! The engine proper: plain Rust over DataFusion, no JavaScript types, so it runs natively too.

use std::fmt;
use std::io::Cursor;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use datafusion::catalog::SchemaProvider;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::execution::{SessionState, SessionStateBuilder, SessionStateDefaults};
use datafusion::logical_expr::registry::{ExtensionTypeRegistry, MemoryExtensionTypeRegistry};
use datafusion::prelude::{SessionConfig, SessionContext};
use qe_tracing::{error, fmetric, imetric, info, span_scope};

pub use datafusion::DATAFUSION_VERSION;

/// What went wrong, with the operation and the table or statement it concerned.
#[derive(Debug)]
pub enum EngineError {
    /// The bytes given to `register_table` are not a usable Arrow IPC stream.
    InvalidIpc { table: String, reason: String },
    /// No table of that name is registered.
    UnknownTable(String),
    /// DataFusion rejected or failed the statement (parse, plan or execution error).
    Sql { sql: String, message: String },
    /// Anything else DataFusion or Arrow reported (registration, serialisation).
    Internal { context: String, message: String },
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::InvalidIpc { table, reason } => {
                write!(f, "register_table('{table}'): not a valid Arrow IPC stream: {reason}")
            }
            EngineError::UnknownTable(name) => write!(
                f,
                "no table named '{name}' is registered (register it with register_table or execute_and_register; table_names() lists what is there)"
            ),
            EngineError::Sql { sql, message } => {
                let shown: String = sql.chars().take(200).collect();
                let more = if shown.len() < sql.len() { "..." } else { "" };
                write!(f, "SQL failed: {message}\n  statement: {shown}{more}")
            }
            EngineError::Internal { context, message } => write!(f, "{context}: {message}"),
        }
    }
}

impl std::error::Error for EngineError {}

type Result<T> = std::result::Result<T, EngineError>;

fn internal(context: &str) -> impl FnOnce(String) -> EngineError + '_ {
    move |message| EngineError::Internal { context: context.to_string(), message }
}

/// The end-of-stream marker: a continuation token followed by a zero length. Writers add it
/// when they are closed; a stream without it was cut short.
const IPC_EOS: [u8; 8] = [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0];
/// Pre-1.0 writers end with a bare zero length.
const IPC_LEGACY_EOS: [u8; 4] = [0, 0, 0, 0];
/// The IPC *file* format starts with this magic; StreamReader cannot read it.
const IPC_FILE_MAGIC: &[u8] = b"ARROW1";

/// One DataFusion session holding the registered tables.
pub struct Engine {
    ctx: SessionContext,
    // Some operators spawn tokio tasks (EXPLAIN ANALYZE's AnalyzeExec, for one), and
    // `tokio::spawn` panics outside a runtime, which on wasm32 is an abort that kills the
    // instance. Every statement therefore runs inside this current-thread runtime: the browser
    // has no threads to block, and in-memory tables never wait on I/O, so `block_on` only
    // interleaves the spawned tasks and never has to park.
    runtime: tokio::runtime::Runtime,
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
        let config = SessionConfig::new().with_target_partitions(1).with_information_schema(true);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime without I/O or timer drivers needs no OS resources");
        info!("engine created (DataFusion {DATAFUSION_VERSION}, 1 partition)");
        Engine { ctx: SessionContext::new_with_state(browser_session_state(config)), runtime }
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

    pub fn read_table_ipc(&self, name: &str) -> Result<Vec<u8>> {
        logged((|| {
            if !self.default_schema().table_exist(name) {
                return Err(EngineError::UnknownTable(name.to_string()));
            }
            let failed = |e: DataFusionError| EngineError::Internal {
                context: format!("read_table_ipc('{name}')"),
                message: e.to_string(),
            };
            let (schema, batches) = self.collect(self.ctx.table(name), failed)?;
            encode_ipc_stream_for_js(&schema, &batches)
        })())
    }

    pub fn deregister_table(&self, name: &str) -> Result<()> {
        logged(match self.ctx.deregister_table(name) {
            Ok(Some(_)) => {
                info!("deregistered table '{name}'");
                Ok(())
            }
            Ok(None) => Err(EngineError::UnknownTable(name.to_string())),
            Err(e) => Err(EngineError::Internal {
                context: format!("deregister_table('{name}')"),
                message: e.to_string(),
            }),
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

    pub fn table_names(&self) -> Vec<String> {
        let mut names = self.default_schema().table_names();
        names.sort();
        names
    }

    fn run(&self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let sql_error = |e: DataFusionError| EngineError::Sql { sql: sql.to_string(), message: e.to_string() };
        self.collect(self.ctx.sql(sql), sql_error)
    }

    /// Plans a DataFrame and collects it inside the engine's runtime: the Arrow schema and batches.
    fn collect(
        &self,
        frame: impl std::future::Future<Output = datafusion::error::Result<DataFrame>>,
        on_error: impl Fn(DataFusionError) -> EngineError,
    ) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        self.runtime.block_on(async {
            let frame = frame.await.map_err(&on_error)?;
            let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
            let batches = frame.collect().await.map_err(&on_error)?;
            Ok((schema, batches))
        })
    }

    fn replace_table(&self, name: &str, schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<()> {
        let context = format!("register_table('{name}')");
        let table = MemTable::try_new(schema, vec![batches]).map_err(|e| EngineError::Internal {
            context: context.clone(),
            message: e.to_string(),
        })?;
        // Build the new table before dropping the old one, so a failure leaves the old intact.
        self.ctx.deregister_table(name).map_err(|e| EngineError::Internal {
            context: context.clone(),
            message: e.to_string(),
        })?;
        self.ctx
            .register_table(name, Arc::new(table))
            .map_err(|e| EngineError::Internal { context, message: e.to_string() })?;
        Ok(())
    }
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
    SessionStateBuilder::new()
        .with_config(config)
        .with_expr_planners(SessionStateDefaults::default_expr_planners())
        .with_scalar_functions(SessionStateDefaults::default_scalar_functions())
        .with_higher_order_functions(SessionStateDefaults::default_higher_order_functions())
        .with_aggregate_functions(SessionStateDefaults::default_aggregate_functions())
        .with_window_functions(SessionStateDefaults::default_window_functions())
        .with_table_function_list(SessionStateDefaults::default_table_functions())
        .with_extension_type_registry(Arc::new(extension_types))
        .build()
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
    let reader = StreamReader::try_new(Cursor::new(bytes), None).map_err(|e| invalid(e.to_string()))?;
    let schema = reader.schema();
    let batches = reader.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| invalid(e.to_string()))?;
    if !(bytes.ends_with(&IPC_EOS) || bytes.ends_with(&IPC_LEGACY_EOS)) {
        return Err(invalid(
            "the stream has no end-of-stream marker: it was truncated, or its writer was not closed"
                .into(),
        ));
    }
    Ok((schema, batches))
}

/// Writes batches as an IPC stream that apache-arrow JS 21 can decode (no view types).
pub fn encode_ipc_stream_for_js(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let context = "serialising the result to Arrow IPC";
    let js_schema = Arc::new(js_compatible_schema(schema));
    let mut buffer = Vec::new();
    {
        let mut writer = StreamWriter::try_new(&mut buffer, &js_schema).map_err(|e| internal(context)(e.to_string()))?;
        for batch in batches {
            let batch = cast_batch(batch, &js_schema).map_err(internal(context))?;
            writer.write(&batch).map_err(|e| internal(context)(e.to_string()))?;
        }
        writer.finish().map_err(|e| internal(context)(e.to_string()))?;
    }
    Ok(buffer)
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
        DataType::LargeListView(field) | DataType::LargeList(field) => {
            DataType::LargeList(js_compatible_field(field))
        }
        DataType::FixedSizeList(field, size) => DataType::FixedSizeList(js_compatible_field(field), *size),
        DataType::Struct(fields) => {
            DataType::Struct(fields.iter().map(js_compatible_field).collect::<Fields>())
        }
        DataType::Map(field, sorted) => DataType::Map(js_compatible_field(field), *sorted),
        DataType::Dictionary(key, value) => {
            DataType::Dictionary(key.clone(), Box::new(js_compatible_type(value)))
        }
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
                    format!("cannot convert column '{}' from {} to {}: {e}", field.name(), column.data_type(), field.data_type())
                })
            }
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    RecordBatch::try_new(target.clone(), columns).map_err(|e| e.to_string())
}
