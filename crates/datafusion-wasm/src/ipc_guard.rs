//! A pre-flight check of untrusted Arrow IPC *stream* bytes, run before arrow-rs's
//! `StreamReader` sees them.
//!
//! arrow-rs trusts the metadata of a stream: a buffer offset or length beyond the message body
//! panics in `Buffer::slice_with_length`, a validity bitmap shorter than its node panics in
//! `BooleanBuffer::new`, a declared metadata or body length is allocated before it is read, an
//! unexpected type code panics in `fb_to_schema`, and on wasm32 (`usize` = 32 bits) every 64-bit
//! offset, length and null count is cut to 32 bits by an `as usize` (a buffer offset of
//! 4 GiB + k reads another column's bytes; a null count of 4 GiB + 1 becomes 1). On wasm32 a
//! panic is a trap that kills the instance.
//!
//! [`validate_ipc_stream`] walks the stream exactly as arrow-rs 59's reader consumes it (framing,
//! messages, schema, then for every batch the field nodes and buffers in the reader's order) and
//! refuses anything that could panic the reader, truncate on a 32-bit target, or make the decoder
//! allocate much more than the input justifies. It allocates nothing proportional to a declared
//! size: only the schema (which arrow-rs builds too) and small per-dictionary bookkeeping.
//! Everything it accepts still goes through arrow-rs's own full validation (UTF-8, offsets,
//! dictionary keys, null counts): this guard does not replace it, it makes it safe to run.
//!
//! Errors are plain sentences naming the message (index, type, byte range), the field path, the
//! buffer index and the numbers involved.
#![forbid(unsafe_code)]

use std::collections::HashMap;

use arrow::array::{layout, BufferSpec};
use arrow::datatypes::{DataType, Field, IntervalUnit, UnionMode};
use arrow::ipc as fb;
use arrow::ipc::convert::fb_to_schema;

/// Resource limits for one stream. Every check that does not depend on these is fixed: they
/// only bound how much work and memory a *well-formed* stream may ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpcLimits {
    /// Largest flatbuffer metadata of one message (default 16 MiB). A schema of 10,000 fields
    /// with long names and metadata is well under 2 MiB; the metadata must also fit in the input.
    pub max_metadata_bytes: u32,
    /// Most fields in the schema, counting nested ones (default 10,000). Each costs the decoder
    /// a few hundred bytes per batch and DataFusion its own planning work.
    pub max_schema_fields: u32,
    /// Deepest nesting of the schema, a top-level column being depth 1 (default 32). The
    /// decoder, the validator and DataFusion all recurse over it.
    pub max_schema_depth: u32,
    /// Most messages (schema, dictionary and record batches; default 1,048,576). Each batch
    /// costs the engine bookkeeping for every column whatever its row count.
    pub max_messages: u32,
    /// Most bytes the decoder may produce beyond the input's own bytes (default 256 MiB):
    /// decompressed buffers (their declared uncompressed lengths) plus the concatenations that
    /// delta dictionaries cause.
    pub max_inflated_bytes: u64,
    /// The same, relative to the input's size (default 512). LZ4 cannot exceed about 255:1, so
    /// this only bites on ZSTD bombs and runaway delta dictionaries.
    pub max_inflation_ratio: u32,
    /// Most values that occupy no bytes in the input (default 1,048,576, plus 8 per input
    /// byte, the density of a boolean column): the lengths of Null-type columns, the logical
    /// lengths of run-end-encoded columns, zero-width fixed-size binaries and lists, structs
    /// without fields, and the rows of a schema without columns. Decoding them costs nothing,
    /// but any query that materialises them allocates per value.
    pub max_virtual_values: u64,
}

impl Default for IpcLimits {
    fn default() -> Self {
        IpcLimits {
            max_metadata_bytes: 16 << 20,
            max_schema_fields: 10_000,
            max_schema_depth: 32,
            max_messages: 1 << 20,
            max_inflated_bytes: 256 << 20,
            max_inflation_ratio: 512,
            max_virtual_values: 1 << 20,
        }
    }
}

/// What a valid stream holds, for logging.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamSummary {
    /// Record batches.
    pub batches: u32,
    /// Dictionary batches (including deltas).
    pub dictionary_batches: u32,
    /// Rows over all record batches.
    pub rows: u64,
    /// Bytes the decoder will produce beyond the input (decompression, delta dictionaries).
    pub inflated_bytes: u64,
}

/// Checks a complete Arrow IPC stream (schema message, dictionary and record batches,
/// end-of-stream marker) before arrow-rs decodes it. `Ok` means arrow-rs's `StreamReader` can
/// read it to the end without panicking, truncating a 64-bit value on a 32-bit target or
/// allocating beyond `limits`; it may still return its own errors (invalid UTF-8, dictionary
/// keys out of range, wrong null counts...). `Err` says what is wrong and where.
pub fn validate_ipc_stream(bytes: &[u8], limits: &IpcLimits) -> Result<StreamSummary, String> {
    let mut stream = Stream {
        limits,
        input_len: bytes.len() as u64,
        schema: None,
        dictionaries: HashMap::new(),
        summary: StreamSummary::default(),
        virtual_values: 0,
    };
    let mut pos = 0usize;
    let mut index = 0u32;
    loop {
        let remaining = bytes.len() - pos;
        if remaining == 0 {
            return Err(if index == 0 {
                "the stream is empty".to_string()
            } else {
                format!(
                    "the stream ends after message {} at byte {pos} without the end-of-stream marker \
                     (0xFFFFFFFF 0x00000000): it was truncated, or its writer was not closed",
                    index - 1
                )
            });
        }
        if remaining < 4 {
            return Err(format!(
                "truncated stream: {remaining} byte(s) at byte {pos} where a message length or the \
                 end-of-stream marker (8 bytes) was expected"
            ));
        }
        let first = read_u32(bytes, pos);
        let (meta_len, prefix) = if first == 0xFFFF_FFFF {
            if remaining < 8 {
                return Err(format!(
                    "truncated stream: a continuation marker at byte {pos} is not followed by a \
                     4-byte metadata length"
                ));
            }
            (read_u32(bytes, pos + 4) as i32, 8usize)
        } else {
            (first as i32, 4usize) // the legacy (pre-0.15) framing: a bare length
        };
        if meta_len == 0 {
            if index == 0 {
                return Err("the stream holds no schema: it starts with the end-of-stream marker".into());
            }
            let after = remaining - prefix;
            if after != 0 {
                return Err(format!(
                    "{after} byte(s) follow the end-of-stream marker at byte {pos}: the stream must \
                     end there (two streams concatenated?)"
                ));
            }
            return Ok(stream.summary);
        }
        if meta_len < 0 {
            return Err(format!("message {index} at byte {pos}: negative metadata length {meta_len}"));
        }
        if index >= limits.max_messages {
            return Err(format!("the stream has more than {} messages (limit max_messages)", limits.max_messages));
        }
        let meta_len = meta_len as u32 as usize;
        if meta_len as u64 > limits.max_metadata_bytes as u64 {
            return Err(format!(
                "message {index} at byte {pos}: metadata length {meta_len} exceeds the limit of {} \
                 bytes (max_metadata_bytes)",
                limits.max_metadata_bytes
            ));
        }
        if meta_len > remaining - prefix {
            return Err(format!(
                "message {index} at byte {pos}: declares {meta_len} bytes of metadata but only {} \
                 bytes remain",
                remaining - prefix
            ));
        }
        let meta_start = pos + prefix;
        let meta_end = meta_start + meta_len;
        let message = fb::root_as_message(&bytes[meta_start..meta_end]).map_err(|e| {
            format!("message {index} at byte {pos}: the metadata is not a valid Message flatbuffer: {e}")
        })?;
        let kind = header_name(message.header_type());
        let body_len = message.bodyLength();
        let after_meta = bytes.len() - meta_end;
        if body_len < 0 || body_len > i32::MAX as i64 || body_len as u64 > after_meta as u64 {
            return Err(format!(
                "message {index} ({kind}) at byte {pos}: body length {body_len} is {}",
                if body_len < 0 {
                    "negative".to_string()
                } else {
                    format!("beyond the {after_meta} bytes that remain (or above 2^31-1)")
                }
            ));
        }
        let body_end = meta_end + body_len as usize;
        let ctx = format!("message {index} ({kind}, bytes {pos}..{body_end})");
        let version = message.version();
        if version != fb::MetadataVersion::V4 && version != fb::MetadataVersion::V5 {
            return Err(format!("{ctx}: metadata version {} is not supported (V4 and V5 are)", version.0));
        }
        let body = &bytes[meta_end..body_end];
        if index == 0 && message.header_type() != fb::MessageHeader::Schema {
            return Err(format!("{ctx}: the first message must be a Schema"));
        }
        match message.header_type() {
            fb::MessageHeader::Schema => {
                if index != 0 {
                    return Err(format!("{ctx}: a second Schema message (a stream has exactly one)"));
                }
                if body_len != 0 {
                    return Err(format!("{ctx}: a Schema message has no body, this one declares {body_len} bytes"));
                }
                let schema =
                    message.header_as_schema().ok_or_else(|| format!("{ctx}: the Schema header is missing"))?;
                stream.read_schema(schema, &ctx)?;
            }
            fb::MessageHeader::RecordBatch => {
                let batch = message
                    .header_as_record_batch()
                    .ok_or_else(|| format!("{ctx}: the RecordBatch header is missing"))?;
                stream.read_record_batch(batch, body, version, &ctx)?;
            }
            fb::MessageHeader::DictionaryBatch => {
                let dict = message
                    .header_as_dictionary_batch()
                    .ok_or_else(|| format!("{ctx}: the DictionaryBatch header is missing"))?;
                stream.read_dictionary_batch(dict, body, version, &ctx)?;
            }
            _ => {
                return Err(format!(
                    "{ctx}: only Schema, DictionaryBatch and RecordBatch messages may appear in a stream"
                ))
            }
        }
        pos = body_end;
        index += 1;
    }
}

fn read_u32(bytes: &[u8], pos: usize) -> u32 {
    u32::from_le_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]])
}

fn header_name(h: fb::MessageHeader) -> String {
    match h {
        fb::MessageHeader::Schema => "Schema".into(),
        fb::MessageHeader::RecordBatch => "RecordBatch".into(),
        fb::MessageHeader::DictionaryBatch => "DictionaryBatch".into(),
        fb::MessageHeader::Tensor => "Tensor".into(),
        fb::MessageHeader::SparseTensor => "SparseTensor".into(),
        fb::MessageHeader::NONE => "no header".into(),
        other => format!("unknown header type {}", other.0),
    }
}

/// State across the messages of one stream.
struct Stream<'l> {
    limits: &'l IpcLimits,
    input_len: u64,
    schema: Option<arrow::datatypes::Schema>,
    /// Dictionary id -> (value type, bytes accumulated by deltas since the last replacement).
    dictionaries: HashMap<i64, DictionaryState>,
    summary: StreamSummary,
    virtual_values: u64,
}

struct DictionaryState {
    value_type: DataType,
    seen: bool,
    accumulated: u64,
}

/// Largest size a delta dictionary may grow to: its elements (up to 8 per byte for booleans)
/// must stay countable in an i32 offset when arrow-rs concatenates it.
const MAX_DELTA_DICTIONARY_BYTES: u64 = (i32::MAX as u64) / 8;

impl Stream<'_> {
    fn read_schema(&mut self, schema: fb::Schema<'_>, ctx: &str) -> Result<(), String> {
        if schema.endianness() != fb::Endianness::Little {
            return Err(format!("{ctx}: the schema is big-endian; only little-endian IPC is supported"));
        }
        let fields = schema.fields().ok_or_else(|| format!("{ctx}: the Schema has no field list"))?;
        let mut count = 0u32;
        for (i, field) in fields.iter().enumerate() {
            let path = field_path("", field.name(), i);
            check_fb_field(field, &path, 1, &mut count, self.limits).map_err(|e| format!("{ctx}: {e}"))?;
        }
        // Every condition under which fb_to_schema panics has been excluded above.
        let schema = fb_to_schema(schema);
        let mut found = Vec::new();
        for field in schema.fields().iter() {
            collect_dictionaries(field, &mut found);
        }
        for (id, value_type, path) in found {
            match self.dictionaries.get(&id) {
                Some(existing) if existing.value_type != value_type => {
                    return Err(format!(
                        "{ctx}: dictionary id {id} is used by field '{path}' with value type \
                         {value_type} and by an earlier field with value type {}",
                        existing.value_type
                    ))
                }
                Some(_) => {}
                None => {
                    self.dictionaries.insert(id, DictionaryState { value_type, seen: false, accumulated: 0 });
                }
            }
        }
        self.schema = Some(schema);
        Ok(())
    }

    fn read_record_batch(
        &mut self,
        batch: fb::RecordBatch<'_>,
        body: &[u8],
        version: fb::MetadataVersion,
        ctx: &str,
    ) -> Result<(), String> {
        let schema = self.schema.as_ref().ok_or_else(|| format!("{ctx}: no schema"))?;
        let mut walker = BatchWalker::new(batch, body, version, ctx)?;
        let rows = walker.rows;
        if schema.fields().is_empty() {
            walker.virtual_values += rows; // rows without any column behind them
        }
        for (i, field) in schema.fields().iter().enumerate() {
            let path = field_path("", Some(field.name().as_str()), i);
            let len = walker.walk(field, &path)?;
            if len != rows {
                return Err(format!("{ctx}: column '{path}' has {len} rows but the batch declares {rows}"));
            }
        }
        walker.finish()?;
        self.account(&walker, ctx)?;
        self.summary.batches += 1;
        self.summary.rows += rows;
        Ok(())
    }

    fn read_dictionary_batch(
        &mut self,
        dict: fb::DictionaryBatch<'_>,
        body: &[u8],
        version: fb::MetadataVersion,
        ctx: &str,
    ) -> Result<(), String> {
        let id = dict.id();
        let state = self
            .dictionaries
            .get(&id)
            .ok_or_else(|| format!("{ctx}: dictionary id {id} is not declared by any field of the schema"))?;
        let data = dict.data().ok_or_else(|| format!("{ctx}: dictionary {id} has no data (RecordBatch) table"))?;
        if dict.isDelta() && !state.seen {
            return Err(format!("{ctx}: delta dictionary batch for id {id} before any dictionary batch for that id"));
        }
        // arrow-rs decodes the values as a one-column batch of this (nullable) field.
        let field = Field::new("", state.value_type.clone(), true);
        let mut walker = BatchWalker::new(data, body, version, ctx)?;
        let rows = walker.rows;
        let path = format!("dictionary {id}");
        let len = walker.walk(&field, &path)?;
        if len != rows {
            return Err(format!("{ctx}: dictionary {id} has {len} values but the batch declares {rows}"));
        }
        walker.finish()?;
        // A delta is concatenated with what came before: arrow-rs allocates the whole again.
        let state = self.dictionaries.get_mut(&id).expect("looked up above");
        if dict.isDelta() {
            state.accumulated = state.accumulated.saturating_add(walker.data_bytes);
            walker.inflated = walker.inflated.saturating_add(state.accumulated);
            if state.accumulated > MAX_DELTA_DICTIONARY_BYTES {
                return Err(format!(
                    "{ctx}: delta dictionaries for id {id} accumulate {} bytes, above {MAX_DELTA_DICTIONARY_BYTES}",
                    state.accumulated
                ));
            }
        } else {
            state.accumulated = walker.data_bytes;
        }
        state.seen = true;
        self.account(&walker, ctx)?;
        self.summary.dictionary_batches += 1;
        Ok(())
    }

    /// Adds a message's inflated bytes and virtual values to the stream's totals.
    fn account(&mut self, walker: &BatchWalker<'_, '_>, ctx: &str) -> Result<(), String> {
        self.summary.inflated_bytes = self.summary.inflated_bytes.saturating_add(walker.inflated);
        let ratio_cap = self.input_len.saturating_mul(self.limits.max_inflation_ratio as u64);
        let cap = self.limits.max_inflated_bytes.min(ratio_cap);
        if self.summary.inflated_bytes > cap {
            return Err(format!(
                "{ctx}: the stream would inflate to {} bytes beyond its own {} (decompressed \
                 buffers and delta dictionaries), above the limit of {cap} (max_inflated_bytes {}, \
                 max_inflation_ratio {})",
                self.summary.inflated_bytes,
                self.input_len,
                self.limits.max_inflated_bytes,
                self.limits.max_inflation_ratio
            ));
        }
        self.virtual_values = self.virtual_values.saturating_add(walker.virtual_values);
        let virtual_cap =
            self.limits.max_virtual_values.saturating_add(self.input_len.saturating_mul(8)).min(i32::MAX as u64);
        if self.virtual_values > virtual_cap {
            return Err(format!(
                "{ctx}: the stream declares {} values that occupy no bytes (null-type, run-end \
                 encoded, zero-width or field-less columns), above the limit of {virtual_cap} \
                 (max_virtual_values + 8 per input byte)",
                self.virtual_values
            ));
        }
        Ok(())
    }
}

fn field_path(parent: &str, name: Option<&str>, index: usize) -> String {
    let name = match name {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => format!("#{index}"),
    };
    if parent.is_empty() {
        name
    } else {
        format!("{parent}.{name}")
    }
}

/// Checks one flatbuffer field (and its children) for everything on which arrow-rs's
/// `fb_to_schema` would panic, plus type parameters that would panic later (negative widths)
/// or that no Arrow implementation writes.
fn check_fb_field(
    field: fb::Field<'_>,
    path: &str,
    depth: u32,
    count: &mut u32,
    limits: &IpcLimits,
) -> Result<(), String> {
    *count += 1;
    if *count > limits.max_schema_fields {
        return Err(format!("the schema has more than {} fields (limit max_schema_fields)", limits.max_schema_fields));
    }
    if depth > limits.max_schema_depth {
        return Err(format!(
            "field '{path}' is nested {depth} levels deep, above the limit of {} (max_schema_depth)",
            limits.max_schema_depth
        ));
    }
    let bad = |what: String| Err(format!("field '{path}': {what}"));
    if let Some(dict) = field.dictionary() {
        let Some(index) = dict.indexType() else {
            return bad("dictionary encoding without an index type".into());
        };
        if !matches!(index.bitWidth(), 8 | 16 | 32 | 64) {
            return bad(format!("dictionary index bit width {} (8, 16, 32 or 64)", index.bitWidth()));
        }
        if dict.dictionaryKind() != fb::DictionaryKind::DenseArray {
            return bad(format!("dictionary kind {} is not supported", dict.dictionaryKind().0));
        }
    }
    let children = field.children();
    let n_children = children.as_ref().map_or(0, |c| c.len());
    let need_children = |n: usize| -> Result<(), String> {
        if children.is_none() || n_children != n {
            Err(format!(
                "field '{path}': type {} needs exactly {n} child field(s), it has {n_children}",
                field.type_type().variant_name().unwrap_or("?")
            ))
        } else {
            Ok(())
        }
    };
    let t = field.type_type();
    match t {
        fb::Type::Null
        | fb::Type::Bool
        | fb::Type::Binary
        | fb::Type::Utf8
        | fb::Type::LargeBinary
        | fb::Type::LargeUtf8
        | fb::Type::BinaryView
        | fb::Type::Utf8View => {}
        fb::Type::Int => {
            let Some(int) = field.type_as_int() else { return bad("Int type without parameters".into()) };
            if !matches!(int.bitWidth(), 8 | 16 | 32 | 64) {
                return bad(format!("integer bit width {} (8, 16, 32 or 64)", int.bitWidth()));
            }
        }
        fb::Type::FloatingPoint => {
            let Some(fp) = field.type_as_floating_point() else {
                return bad("FloatingPoint type without parameters".into());
            };
            if !matches!(fp.precision(), fb::Precision::HALF | fb::Precision::SINGLE | fb::Precision::DOUBLE) {
                return bad(format!("floating point precision {}", fp.precision().0));
            }
        }
        fb::Type::Decimal => {
            let Some(d) = field.type_as_decimal() else { return bad("Decimal type without parameters".into()) };
            let max_precision = match d.bitWidth() {
                32 => 9,
                64 => 18,
                128 => 38,
                256 => 76,
                w => return bad(format!("decimal bit width {w} (32, 64, 128 or 256)")),
            };
            let (p, s) = (d.precision(), d.scale());
            if p < 1 || p > max_precision || s < i8::MIN as i32 || s > p {
                return bad(format!(
                    "decimal{} precision {p} scale {s} (precision 1..={max_precision}, scale -128..=precision)",
                    d.bitWidth()
                ));
            }
        }
        fb::Type::Date => {
            let Some(d) = field.type_as_date() else { return bad("Date type without parameters".into()) };
            if !matches!(d.unit(), fb::DateUnit::DAY | fb::DateUnit::MILLISECOND) {
                return bad(format!("date unit {}", d.unit().0));
            }
        }
        fb::Type::Time => {
            let Some(tm) = field.type_as_time() else { return bad("Time type without parameters".into()) };
            let ok = matches!(
                (tm.bitWidth(), tm.unit()),
                (32, fb::TimeUnit::SECOND)
                    | (32, fb::TimeUnit::MILLISECOND)
                    | (64, fb::TimeUnit::MICROSECOND)
                    | (64, fb::TimeUnit::NANOSECOND)
            );
            if !ok {
                return bad(format!("time of bit width {} and unit {}", tm.bitWidth(), tm.unit().0));
            }
        }
        fb::Type::Timestamp => {
            let Some(ts) = field.type_as_timestamp() else {
                return bad("Timestamp type without parameters".into());
            };
            check_time_unit(ts.unit()).map_err(|e| format!("field '{path}': timestamp {e}"))?;
        }
        fb::Type::Duration => {
            let Some(du) = field.type_as_duration() else {
                return bad("Duration type without parameters".into());
            };
            check_time_unit(du.unit()).map_err(|e| format!("field '{path}': duration {e}"))?;
        }
        fb::Type::Interval => {
            let Some(iv) = field.type_as_interval() else {
                return bad("Interval type without parameters".into());
            };
            if !matches!(
                iv.unit(),
                fb::IntervalUnit::YEAR_MONTH | fb::IntervalUnit::DAY_TIME | fb::IntervalUnit::MONTH_DAY_NANO
            ) {
                return bad(format!("interval unit {}", iv.unit().0));
            }
        }
        fb::Type::FixedSizeBinary => {
            let Some(fsb) = field.type_as_fixed_size_binary() else {
                return bad("FixedSizeBinary type without parameters".into());
            };
            if fsb.byteWidth() < 0 {
                return bad(format!("negative fixed-size binary width {}", fsb.byteWidth()));
            }
        }
        fb::Type::List | fb::Type::LargeList | fb::Type::ListView | fb::Type::LargeListView => {
            need_children(1)?;
        }
        fb::Type::FixedSizeList => {
            need_children(1)?;
            let Some(fsl) = field.type_as_fixed_size_list() else {
                return bad("FixedSizeList type without parameters".into());
            };
            if fsl.listSize() < 0 {
                return bad(format!("negative fixed-size list size {}", fsl.listSize()));
            }
        }
        fb::Type::Map => {
            need_children(1)?;
            if field.type_as_map().is_none() {
                return bad("Map type without parameters".into());
            }
            let entries = children.as_ref().expect("checked").get(0);
            let entry_children = entries.children().map_or(0, |c| c.len());
            if entries.type_type() != fb::Type::Struct_ || entry_children != 2 || entries.dictionary().is_some() {
                return bad("a map's child must be a struct of exactly two fields (key, value)".into());
            }
        }
        fb::Type::Struct_ => {}
        fb::Type::RunEndEncoded => {
            need_children(2)?;
            let run_ends = children.as_ref().expect("checked").get(0);
            let ok = run_ends.type_type() == fb::Type::Int
                && run_ends.dictionary().is_none()
                && run_ends.type_as_int().is_some_and(|i| i.is_signed() && matches!(i.bitWidth(), 16 | 32 | 64));
            if !ok || run_ends.nullable() {
                return bad("run ends must be a non-nullable Int16, Int32 or Int64 field".into());
            }
        }
        fb::Type::Union => {
            let Some(u) = field.type_as_union() else { return bad("Union type without parameters".into()) };
            if !matches!(u.mode(), fb::UnionMode::Sparse | fb::UnionMode::Dense) {
                return bad(format!("union mode {}", u.mode().0));
            }
            match u.typeIds() {
                None => {
                    if n_children > 128 {
                        return bad(format!("a union has at most 128 children, this one {n_children}"));
                    }
                }
                Some(ids) => {
                    if ids.len() != n_children {
                        return bad(format!("union declares {} type ids for {n_children} children", ids.len()));
                    }
                    let mut seen = 0u128;
                    for id in ids.iter() {
                        if !(0..=127).contains(&id) {
                            return bad(format!("union type id {id} (0..=127)"));
                        }
                        if seen & (1u128 << id) != 0 {
                            return bad(format!("duplicate union type id {id}"));
                        }
                        seen |= 1u128 << id;
                    }
                }
            }
        }
        other => {
            return bad(format!(
                "type {} is not supported",
                other.variant_name().map_or_else(|| format!("code {}", other.0), str::to_string)
            ))
        }
    }
    // Children of types that take none are ignored by arrow-rs; refuse them rather than guess.
    let takes_children = matches!(
        t,
        fb::Type::List
            | fb::Type::LargeList
            | fb::Type::ListView
            | fb::Type::LargeListView
            | fb::Type::FixedSizeList
            | fb::Type::Map
            | fb::Type::Struct_
            | fb::Type::RunEndEncoded
            | fb::Type::Union
    );
    if let Some(children) = children {
        if !takes_children && !children.is_empty() {
            return bad(format!("a field of this type has no children, this one has {}", children.len()));
        }
        for (i, child) in children.iter().enumerate() {
            let child_path = field_path(path, child.name(), i);
            check_fb_field(child, &child_path, depth + 1, count, limits)?;
        }
    }
    Ok(())
}

fn check_time_unit(unit: fb::TimeUnit) -> Result<(), String> {
    match unit {
        fb::TimeUnit::SECOND | fb::TimeUnit::MILLISECOND | fb::TimeUnit::MICROSECOND | fb::TimeUnit::NANOSECOND => {
            Ok(())
        }
        other => Err(format!("unit {}", other.0)),
    }
}

/// Dictionary ids in the order arrow-rs's `Schema::fields_with_dict_id` finds them (pre-order,
/// into dictionary value types too): the first field with an id gives the value type.
fn collect_dictionaries(field: &Field, out: &mut Vec<(i64, DataType, String)>) {
    if let DataType::Dictionary(_, value_type) = field.data_type() {
        #[allow(deprecated)]
        if let Some(id) = field.dict_id() {
            out.push((id, value_type.as_ref().clone(), field.name().clone()));
        }
    }
    collect_nested(field.data_type(), out);
}

fn collect_nested(data_type: &DataType, out: &mut Vec<(i64, DataType, String)>) {
    match data_type {
        DataType::Struct(fields) => fields.iter().for_each(|f| collect_dictionaries(f, out)),
        DataType::Union(fields, _) => fields.iter().for_each(|(_, f)| collect_dictionaries(f, out)),
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => collect_dictionaries(f, out),
        DataType::Dictionary(_, value_type) => collect_nested(value_type, out),
        DataType::RunEndEncoded(_, values) => collect_dictionaries(values, out),
        _ => {}
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Codec {
    Lz4,
    Zstd,
}

/// Consumes the field nodes and buffers of one RecordBatch table in the order arrow-rs's
/// `RecordBatchDecoder::create_array` does, checking each against the body.
struct BatchWalker<'a, 'c> {
    ctx: &'c str,
    nodes: Vec<(i64, i64)>,
    buffers: Vec<(i64, i64)>,
    variadic: Vec<i64>,
    node_i: usize,
    buffer_i: usize,
    variadic_i: usize,
    body: &'a [u8],
    codec: Option<Codec>,
    version: fb::MetadataVersion,
    rows: u64,
    /// Bytes of all buffers as the decoder sees them (after decompression).
    data_bytes: u64,
    /// Declared uncompressed bytes of compressed buffers.
    inflated: u64,
    virtual_values: u64,
}

impl<'a, 'c> BatchWalker<'a, 'c> {
    fn new(
        batch: fb::RecordBatch<'_>,
        body: &'a [u8],
        version: fb::MetadataVersion,
        ctx: &'c str,
    ) -> Result<Self, String> {
        let nodes = batch.nodes().ok_or_else(|| format!("{ctx}: the batch has no field node list"))?;
        let buffers = batch.buffers().ok_or_else(|| format!("{ctx}: the batch has no buffer list"))?;
        let codec = match batch.compression() {
            None => None,
            Some(c) => {
                if c.method() != fb::BodyCompressionMethod::BUFFER {
                    return Err(format!("{ctx}: body compression method {} is not supported", c.method().0));
                }
                match c.codec() {
                    fb::CompressionType::LZ4_FRAME => Some(Codec::Lz4),
                    fb::CompressionType::ZSTD => {
                        if cfg!(target_arch = "wasm32") {
                            return Err(format!(
                                "{ctx}: the batch is ZSTD-compressed, which this build cannot \
                                 decompress; write the stream uncompressed or with LZ4_FRAME"
                            ));
                        }
                        Some(Codec::Zstd)
                    }
                    other => return Err(format!("{ctx}: compression codec {} is not supported", other.0)),
                }
            }
        };
        let length = batch.length();
        if length < 0 || length > i32::MAX as i64 {
            return Err(format!("{ctx}: batch length {length} is outside 0..=2^31-1"));
        }
        // The metadata is at most max_metadata_bytes, so these copies are bounded by the input.
        Ok(BatchWalker {
            ctx,
            nodes: nodes.iter().map(|n| (n.length(), n.null_count())).collect(),
            buffers: buffers.iter().map(|b| (b.offset(), b.length())).collect(),
            variadic: batch.variadicBufferCounts().map(|v| v.iter().collect()).unwrap_or_default(),
            node_i: 0,
            buffer_i: 0,
            variadic_i: 0,
            body,
            codec,
            version,
            rows: length as u64,
            data_bytes: 0,
            inflated: 0,
            virtual_values: 0,
        })
    }

    fn finish(&self) -> Result<(), String> {
        let ctx = self.ctx;
        if self.node_i != self.nodes.len() {
            return Err(format!(
                "{ctx}: the batch has {} field nodes, the schema needs {}",
                self.nodes.len(),
                self.node_i
            ));
        }
        if self.buffer_i != self.buffers.len() {
            return Err(format!(
                "{ctx}: the batch has {} buffers, the schema needs {}",
                self.buffers.len(),
                self.buffer_i
            ));
        }
        if self.variadic_i != self.variadic.len() {
            return Err(format!(
                "{ctx}: the batch has {} variadic buffer counts, the schema has {} view columns",
                self.variadic.len(),
                self.variadic_i
            ));
        }
        Ok(())
    }

    /// The next field node as (length, null count), both within 0..=i32::MAX.
    fn node(&mut self, path: &str) -> Result<(u64, u64), String> {
        let ctx = self.ctx;
        let i = self.node_i;
        let &(length, nulls) = self.nodes.get(i).ok_or_else(|| {
            format!("{ctx}: field '{path}' needs field node {i} but the batch has only {}", self.nodes.len())
        })?;
        self.node_i += 1;
        if length < 0 || length > i32::MAX as i64 {
            return Err(format!("{ctx}: field node {i} ('{path}'): length {length} is outside 0..=2^31-1"));
        }
        if nulls < 0 || nulls > length {
            return Err(format!(
                "{ctx}: field node {i} ('{path}'): null count {nulls} is outside 0..={length} (its length)"
            ));
        }
        Ok((length as u64, nulls as u64))
    }

    /// The next buffer's size as the decoder will see it (after decompression).
    fn buffer(&mut self, path: &str, role: &str) -> Result<u64, String> {
        let ctx = self.ctx;
        let i = self.buffer_i;
        let &(offset, length) = self.buffers.get(i).ok_or_else(|| {
            format!("{ctx}: field '{path}' needs buffer {i} ({role}) but the batch has only {}", self.buffers.len())
        })?;
        self.buffer_i += 1;
        let here = format!("{ctx}: buffer {i} ({role} of '{path}')");
        if offset < 0 || length < 0 {
            return Err(format!("{here}: negative offset {offset} or length {length}"));
        }
        let (offset, length) = (offset as u64, length as u64);
        let end = offset + length; // both < 2^63: no overflow
        let body_len = self.body.len() as u64;
        if end > body_len {
            return Err(format!("{here}: bytes {offset}..{end} lie beyond the message body of {body_len} bytes"));
        }
        if length > 0 && offset % 8 != 0 {
            return Err(format!("{here}: offset {offset} is not a multiple of 8"));
        }
        let size = match self.codec {
            None => length,
            Some(_) if length == 0 => 0,
            Some(codec) => {
                if length < 8 {
                    return Err(format!(
                        "{here}: a compressed buffer starts with an 8-byte uncompressed length, this one has {length} bytes"
                    ));
                }
                let data = &self.body[offset as usize..end as usize];
                let mut prefix = [0u8; 8];
                prefix.copy_from_slice(&data[..8]);
                let declared = i64::from_le_bytes(prefix);
                match declared {
                    -1 => length - 8,
                    0 => 0,
                    d if d < -1 => return Err(format!("{here}: uncompressed length {d} (must be -1, 0 or positive)")),
                    d if d > i32::MAX as i64 => return Err(format!("{here}: uncompressed length {d} is above 2^31-1")),
                    d => {
                        let d = d as u64;
                        if codec == Codec::Lz4 {
                            let (bound, block) = lz4_output_bound(&data[8..]).map_err(|e| format!("{here}: {e}"))?;
                            if d > bound {
                                return Err(format!(
                                    "{here}: declares {d} uncompressed bytes but its LZ4 data can produce at most {bound}"
                                ));
                            }
                            // arrow-rs's LZ4 path reads the frame to its end whatever the declared
                            // length, so the frame must not be able to produce much more than it.
                            if bound > d + block {
                                return Err(format!(
                                    "{here}: its LZ4 frames could produce up to {bound} bytes, far more than the {d} it declares"
                                ));
                            }
                        }
                        self.inflated += d;
                        d
                    }
                }
            }
        };
        self.data_bytes += size;
        Ok(size)
    }

    /// A validity buffer: needed (ceil(len/8) bytes) only when the node has nulls, as arrow-rs
    /// ignores it otherwise.
    fn validity(&mut self, path: &str, len: u64, nulls: u64) -> Result<(), String> {
        let i = self.buffer_i;
        let size = self.buffer(path, "validity")?;
        if nulls > 0 && size < len.div_ceil(8) {
            return Err(format!(
                "{}: buffer {i} (validity of '{path}'): {size} bytes, a node of {len} values with \
                 {nulls} nulls needs {}",
                self.ctx,
                len.div_ceil(8)
            ));
        }
        Ok(())
    }

    /// A buffer of `width`-byte elements that must hold at least `needed` bytes. Its size must
    /// be a whole number of elements: arrow-rs's validation views offsets, keys and views with
    /// `Buffer::typed_data`, which asserts that (writers never pad inside a buffer's length).
    fn sized(&mut self, path: &str, role: &str, needed: u64, width: u64) -> Result<u64, String> {
        let i = self.buffer_i;
        let size = self.buffer(path, role)?;
        if size < needed {
            return Err(format!("{}: buffer {i} ({role} of '{path}'): {size} bytes, {needed} needed", self.ctx));
        }
        if width > 1 && size % width != 0 {
            return Err(format!(
                "{}: buffer {i} ({role} of '{path}'): {size} bytes is not a whole number of {width}-byte values",
                self.ctx
            ));
        }
        Ok(size)
    }

    fn add_virtual(&mut self, n: u64) {
        self.virtual_values = self.virtual_values.saturating_add(n);
    }

    /// Walks one field (recursively) and returns its node length.
    fn walk(&mut self, field: &Field, path: &str) -> Result<u64, String> {
        let ctx = self.ctx;
        let data_type = field.data_type();
        match data_type {
            DataType::Null => {
                let (len, nulls) = self.node(path)?;
                if nulls != len {
                    return Err(format!("{ctx}: field '{path}' of type Null has {len} values but null count {nulls}"));
                }
                self.add_virtual(len);
                Ok(len)
            }
            DataType::Boolean => {
                let (len, nulls) = self.node(path)?;
                self.validity(path, len, nulls)?;
                self.sized(path, "values", len.div_ceil(8), 1)?;
                Ok(len)
            }
            DataType::Utf8 | DataType::Binary | DataType::LargeUtf8 | DataType::LargeBinary => {
                let width = if matches!(data_type, DataType::Utf8 | DataType::Binary) { 4 } else { 8 };
                let (len, nulls) = self.node(path)?;
                self.validity(path, len, nulls)?;
                self.sized(path, "offsets", if len > 0 { (len + 1) * width } else { 0 }, width)?;
                self.buffer(path, "data")?;
                Ok(len)
            }
            DataType::Utf8View | DataType::BinaryView => {
                let (len, nulls) = self.node(path)?;
                self.validity(path, len, nulls)?;
                self.sized(path, "views", len * 16, 16)?;
                let k = self.variadic_i;
                let count = *self.variadic.get(k).ok_or_else(|| {
                    format!(
                        "{ctx}: view column '{path}' needs variadic buffer count {k}, the batch has {}",
                        self.variadic.len()
                    )
                })?;
                self.variadic_i += 1;
                let left = (self.buffers.len() - self.buffer_i) as i64;
                if count < 0 || count > left {
                    return Err(format!(
                        "{ctx}: variadic buffer count {k} ('{path}') is {count}, the batch has {left} buffers left"
                    ));
                }
                for _ in 0..count {
                    self.buffer(path, "view data")?;
                }
                Ok(len)
            }
            DataType::FixedSizeBinary(width) => {
                let width = u64::try_from(*width).map_err(|_| format!("{ctx}: '{path}': negative width"))?;
                let (len, nulls) = self.node(path)?;
                self.validity(path, len, nulls)?;
                self.sized(path, "values", len * width, 1)?;
                if width == 0 {
                    self.add_virtual(len);
                }
                Ok(len)
            }
            DataType::List(child) | DataType::LargeList(child) | DataType::Map(child, _) => {
                let width = if matches!(data_type, DataType::LargeList(_)) { 8 } else { 4 };
                let (len, nulls) = self.node(path)?;
                self.validity(path, len, nulls)?;
                self.sized(path, "offsets", if len > 0 { (len + 1) * width } else { 0 }, width)?;
                self.walk(child, &field_path(path, Some(child.name().as_str()), 0))?;
                Ok(len)
            }
            DataType::ListView(child) | DataType::LargeListView(child) => {
                let width = if matches!(data_type, DataType::ListView(_)) { 4 } else { 8 };
                let (len, nulls) = self.node(path)?;
                self.validity(path, len, nulls)?;
                self.sized(path, "offsets", len * width, width)?;
                self.sized(path, "sizes", len * width, width)?;
                self.walk(child, &field_path(path, Some(child.name().as_str()), 0))?;
                Ok(len)
            }
            DataType::FixedSizeList(child, size) => {
                let size = u64::try_from(*size).map_err(|_| format!("{ctx}: '{path}': negative list size"))?;
                let (len, nulls) = self.node(path)?;
                self.validity(path, len, nulls)?;
                let child_len = self.walk(child, &field_path(path, Some(child.name().as_str()), 0))?;
                // arrow-rs computes len * size with a panicking checked_mul on usize.
                if len * size > child_len {
                    return Err(format!(
                        "{ctx}: fixed-size list '{path}' of {len} lists of {size} needs {} child values, it has {child_len}",
                        len * size
                    ));
                }
                if size == 0 {
                    self.add_virtual(len);
                }
                Ok(len)
            }
            DataType::Struct(fields) => {
                let (len, nulls) = self.node(path)?;
                self.validity(path, len, nulls)?;
                for (i, child) in fields.iter().enumerate() {
                    self.walk(child, &field_path(path, Some(child.name().as_str()), i))?;
                }
                if fields.is_empty() {
                    self.add_virtual(len);
                }
                Ok(len)
            }
            DataType::RunEndEncoded(run_ends, values) => {
                let (len, nulls) = self.node(path)?;
                if nulls != 0 {
                    return Err(format!(
                        "{ctx}: run-end encoded field '{path}' has null count {nulls} (its nulls live in its values)"
                    ));
                }
                self.walk(run_ends, &field_path(path, Some(run_ends.name().as_str()), 0))?;
                self.walk(values, &field_path(path, Some(values.name().as_str()), 1))?;
                self.add_virtual(len);
                Ok(len)
            }
            DataType::Dictionary(key, _) => {
                let (len, nulls) = self.node(path)?;
                self.validity(path, len, nulls)?;
                let width = fixed_width(key).ok_or_else(|| format!("{ctx}: '{path}': dictionary key type {key}"))?;
                self.sized(path, "indices", len * width, width)?;
                Ok(len)
            }
            DataType::Union(fields, mode) => {
                let (len, _) = self.node(path)?;
                if self.version < fb::MetadataVersion::V5 {
                    self.buffer(path, "validity (V4 union)")?;
                }
                self.sized(path, "type ids", len, 1)?;
                if *mode == UnionMode::Dense {
                    self.sized(path, "offsets", len * 4, 4)?;
                }
                for (i, (_, child)) in fields.iter().enumerate() {
                    self.walk(child, &field_path(path, Some(child.name().as_str()), i))?;
                }
                Ok(len)
            }
            other => {
                let width = fixed_width(other)
                    .ok_or_else(|| format!("{ctx}: field '{path}': type {other} is not supported"))?;
                let (len, nulls) = self.node(path)?;
                self.validity(path, len, nulls)?;
                self.sized(path, "values", len * width, width)?;
                Ok(len)
            }
        }
    }
}

/// Byte width of a fixed-width primitive type (from arrow's own layout table), None otherwise.
fn fixed_width(data_type: &DataType) -> Option<u64> {
    let primitive = data_type.is_primitive()
        || matches!(data_type, DataType::Interval(IntervalUnit::MonthDayNano | IntervalUnit::DayTime));
    if !primitive {
        return None;
    }
    match layout(data_type).buffers.first() {
        Some(BufferSpec::FixedWidth { byte_width, .. }) => Some(*byte_width as u64),
        _ => None,
    }
}

/// An upper bound of what lz4_flex's `FrameDecoder::read_to_end` (arrow-rs's LZ4 path) can
/// produce from `data`, and the frame's block size. arrow-rs decodes one LZ4 frame (the decoder
/// stops at its end mark); each compressed block yields at most min(block size, 255 x its
/// length) bytes (an LZ4 sequence cannot expand a byte more than 255-fold), a stored block its
/// length. The frame must be complete and fill `data` exactly; legacy, skippable and dictionary
/// frames are refused (no Arrow writer produces them).
fn lz4_output_bound(data: &[u8]) -> Result<(u64, u64), String> {
    let mut pos = 0usize;
    let take = |pos: &mut usize, n: usize, what: &str| -> Result<usize, String> {
        if data.len() - *pos < n {
            return Err(format!(
                "truncated LZ4 frame: {what} at byte {} needs {n} bytes, {} remain",
                *pos,
                data.len() - *pos
            ));
        }
        let at = *pos;
        *pos += n;
        Ok(at)
    };
    let at = take(&mut pos, 4, "the frame magic")?;
    let magic = read_u32(data, at);
    if magic != 0x184D_2204 {
        return Err(format!("magic {magic:#010x} is not an LZ4 frame"));
    }
    let at = take(&mut pos, 2, "the frame descriptor")?;
    let (flg, bd) = (data[at], data[at + 1]);
    if flg & 0b1100_0000 != 0b0100_0000 || flg & 0b0000_0010 != 0 || bd & 0b1000_1111 != 0 {
        return Err(format!("unsupported LZ4 frame descriptor {flg:#04x} {bd:#04x}"));
    }
    if flg & 0b0000_0001 != 0 {
        return Err("LZ4 frames with a dictionary id are not supported".into());
    }
    let block_max: u64 = match (bd >> 4) & 0b111 {
        4 => 64 << 10,
        5 => 256 << 10,
        6 => 1 << 20,
        7 => 4 << 20,
        other => return Err(format!("LZ4 block size code {other} is not supported")),
    };
    let block_checksums = flg & 0b0001_0000 != 0;
    let content_checksum = flg & 0b0000_0100 != 0;
    let header_rest = if flg & 0b0000_1000 != 0 { 8 } else { 0 } + 1; // content size, header checksum
    take(&mut pos, header_rest, "the frame header")?;
    let mut bound = 0u64;
    loop {
        let at = take(&mut pos, 4, "a block size")?;
        let word = read_u32(data, at);
        if word == 0 {
            if content_checksum {
                take(&mut pos, 4, "the content checksum")?;
            }
            break;
        }
        let stored = word & 0x8000_0000 != 0;
        let n = (word & 0x7FFF_FFFF) as u64;
        if n > block_max {
            return Err(format!("LZ4 block at byte {at} of {n} bytes exceeds the frame's block size {block_max}"));
        }
        take(&mut pos, n as usize + if block_checksums { 4 } else { 0 }, "a block")?;
        bound += if stored { n } else { block_max.min(n * 255) };
    }
    if pos != data.len() {
        return Err(format!("{} bytes follow the LZ4 frame's end mark", data.len() - pos));
    }
    Ok((bound, block_max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::array::{
        new_null_array, Array, ArrayRef, BooleanArray, Decimal128Array, DictionaryArray, FixedSizeBinaryArray,
        FixedSizeListArray, Int32Array, Int64Array, LargeStringArray, ListArray, MapBuilder, RecordBatch, RunArray,
        StringArray, StringBuilder, StringViewArray, StructArray, TimestampMicrosecondArray, UnionArray,
    };
    use arrow::array::{Int32Builder, StringDictionaryBuilder};
    use arrow::buffer::ScalarBuffer;
    use arrow::datatypes::{Int32Type, Int8Type, Schema, UnionFields};
    use arrow::ipc::reader::StreamReader;
    use arrow::ipc::writer::{DictionaryHandling, IpcWriteOptions, StreamWriter};

    // ------------------------------------------------------------------ building streams

    fn write(batches: &[RecordBatch], options: IpcWriteOptions) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = StreamWriter::try_new_with_options(&mut out, &batches[0].schema(), options).unwrap();
        for b in batches {
            w.write(b).unwrap();
        }
        w.finish().unwrap();
        drop(w);
        out
    }

    fn plain() -> IpcWriteOptions {
        IpcWriteOptions::default()
    }

    fn lz4() -> IpcWriteOptions {
        IpcWriteOptions::default().try_with_compression(Some(fb::CompressionType::LZ4_FRAME)).unwrap()
    }

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(columns).unwrap()
    }

    /// a: [1, NULL, 3], b: [10, 20, 30]
    fn ints() -> RecordBatch {
        batch(vec![
            ("a", Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])) as ArrayRef),
            ("b", Arc::new(Int64Array::from(vec![10, 20, 30])) as ArrayRef),
        ])
    }

    /// s (Utf8: node 0, buffers 0-2), l (List<Int32>: node 1, buffers 3-4; item: node 2,
    /// buffers 5-6), st (Struct: node 3, buffer 7; x: node 4, 8-9; y: node 5, 10-11),
    /// d (Dictionary<Int8, Utf8>: node 6, 12-13), dec (Decimal128: node 7, 14-15).
    fn mixed() -> RecordBatch {
        let list =
            ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1), Some(2)]), None, Some(vec![])]);
        let structs = StructArray::from(vec![
            (
                Arc::new(Field::new("x", DataType::Int32, true)),
                Arc::new(Int32Array::from(vec![Some(1), None, Some(3)])) as ArrayRef,
            ),
            (
                Arc::new(Field::new("y", DataType::Boolean, true)),
                Arc::new(BooleanArray::from(vec![true, false, true])) as ArrayRef,
            ),
        ]);
        let dict: DictionaryArray<Int8Type> = vec![Some("p"), None, Some("q")].into_iter().collect();
        let dec = Decimal128Array::from(vec![Some(1), None, Some(3)]).with_precision_and_scale(10, 2).unwrap();
        batch(vec![
            ("s", Arc::new(StringArray::from(vec![Some("x"), None, Some("zz")])) as ArrayRef),
            ("l", Arc::new(list) as ArrayRef),
            ("st", Arc::new(structs) as ArrayRef),
            ("d", Arc::new(dict) as ArrayRef),
            ("dec", Arc::new(dec) as ArrayRef),
        ])
    }

    /// Types with unusual node/buffer layouts: views, unions, maps, run-end encoding,
    /// fixed-size lists and binaries, large strings, timestamps with a time zone.
    fn exotic() -> RecordBatch {
        let views = StringViewArray::from(vec![Some("short"), None, Some("a string longer than twelve bytes")]);
        let union_fields = UnionFields::try_new(
            vec![0, 5],
            vec![Field::new("i", DataType::Int32, true), Field::new("s", DataType::Utf8, true)],
        )
        .unwrap();
        let sparse = UnionArray::try_new(
            union_fields.clone(),
            ScalarBuffer::from(vec![0i8, 5, 0]),
            None,
            vec![
                Arc::new(Int32Array::from(vec![1, 2, 3])) as ArrayRef,
                Arc::new(StringArray::from(vec!["a", "b", "c"])) as ArrayRef,
            ],
        )
        .unwrap();
        let dense = UnionArray::try_new(
            union_fields,
            ScalarBuffer::from(vec![5i8, 0, 5]),
            Some(ScalarBuffer::from(vec![0i32, 0, 1])),
            vec![
                Arc::new(Int32Array::from(vec![7])) as ArrayRef,
                Arc::new(StringArray::from(vec!["u", "v"])) as ArrayRef,
            ],
        )
        .unwrap();
        let mut map = MapBuilder::new(None, StringBuilder::new(), Int32Builder::new());
        map.keys().append_value("k");
        map.values().append_value(1);
        map.append(true).unwrap();
        map.append(false).unwrap();
        map.append(true).unwrap();
        let run_ends = Int32Array::from(vec![2, 3]);
        let ree = RunArray::<Int32Type>::try_new(&run_ends, &StringArray::from(vec![Some("r"), None])).unwrap();
        let fsl = FixedSizeListArray::from_iter_primitive::<Int32Type, _, _>(
            vec![Some(vec![Some(1), Some(2)]), None, Some(vec![Some(3), None])],
            2,
        );
        let fsb = FixedSizeBinaryArray::try_from_sparse_iter_with_size(
            vec![Some(b"abcd".to_vec()), None, Some(b"wxyz".to_vec())].into_iter(),
            4,
        )
        .unwrap();
        let ts = TimestampMicrosecondArray::from(vec![Some(1), None, Some(3)]).with_timezone("Europe/Zurich");
        batch(vec![
            ("views", Arc::new(views) as ArrayRef),
            ("sparse", Arc::new(sparse) as ArrayRef),
            ("dense", Arc::new(dense) as ArrayRef),
            ("map", Arc::new(map.finish()) as ArrayRef),
            ("ree", Arc::new(ree) as ArrayRef),
            ("fsl", Arc::new(fsl) as ArrayRef),
            ("fsb", Arc::new(fsb) as ArrayRef),
            ("large", Arc::new(LargeStringArray::from(vec![Some("L"), None, Some("")])) as ArrayRef),
            ("ts", Arc::new(ts) as ArrayRef),
            ("nulls", new_null_array(&DataType::Null, 3)),
        ])
    }

    /// Two dictionary columns: their batches carry ids 0 and 1 (0 is a flatbuffer default and
    /// is left out of the metadata, 1 is written).
    fn two_dicts() -> RecordBatch {
        let d0: DictionaryArray<Int8Type> = vec!["a", "b", "a"].into_iter().collect();
        let d1: DictionaryArray<Int32Type> = vec!["x", "y", "z"].into_iter().collect();
        batch(vec![("d0", Arc::new(d0) as ArrayRef), ("d1", Arc::new(d1) as ArrayRef)])
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<RecordBatch>, String> {
        StreamReader::try_new(std::io::Cursor::new(bytes), None)
            .map_err(|e| e.to_string())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())
    }

    fn ok(bytes: &[u8]) -> StreamSummary {
        validate_ipc_stream(bytes, &IpcLimits::default()).unwrap_or_else(|e| panic!("rejected: {e}"))
    }

    fn rejected(bytes: &[u8], needle: &str) {
        match validate_ipc_stream(bytes, &IpcLimits::default()) {
            Ok(_) => panic!("accepted, expected an error containing {needle:?}"),
            Err(e) => assert!(e.contains(needle), "error {e:?} does not contain {needle:?}"),
        }
    }

    // ------------------------------------------------------------------ locating fields

    /// (metadata start, metadata end, body end) of each message, the end marker excluded.
    fn messages(bytes: &[u8]) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            let (len, prefix) = if read_u32(bytes, pos) == 0xFFFF_FFFF {
                (read_u32(bytes, pos + 4) as usize, 8)
            } else {
                (read_u32(bytes, pos) as usize, 4)
            };
            if len == 0 {
                return out;
            }
            let meta = pos + prefix;
            let m = fb::root_as_message(&bytes[meta..meta + len]).unwrap();
            let end = meta + len + m.bodyLength() as usize;
            out.push((meta, meta + len, end));
            pos = end;
        }
    }

    fn message(bytes: &[u8], index: usize) -> fb::Message<'_> {
        let (meta, end, _) = messages(bytes)[index];
        fb::root_as_message(&bytes[meta..end]).unwrap()
    }

    /// The RecordBatch table of message `index` (a record batch or a dictionary's data).
    fn batch_of(bytes: &[u8], index: usize) -> fb::RecordBatch<'_> {
        let m = message(bytes, index);
        m.header_as_record_batch().or_else(|| m.header_as_dictionary_batch().and_then(|d| d.data())).unwrap()
    }

    /// Position in `bytes` of a sub-slice of it (pointer arithmetic only: no unsafe).
    fn position(bytes: &[u8], inner: &[u8]) -> usize {
        inner.as_ptr() as usize - bytes.as_ptr() as usize
    }

    /// Position in `bytes` of the vtable entry of field `slot` of a flatbuffer table.
    fn vtable_entry(bytes: &[u8], buf: &[u8], loc: usize, slot: usize) -> Option<usize> {
        let table = position(bytes, buf) + loc;
        let soffset = i32::from_le_bytes(bytes[table..table + 4].try_into().unwrap()) as i64;
        let vtable = (table as i64 - soffset) as usize;
        let vtable_len = u16::from_le_bytes([bytes[vtable], bytes[vtable + 1]]) as usize;
        (4 + 2 * slot + 2 <= vtable_len).then_some(vtable + 4 + 2 * slot)
    }

    /// Position in `bytes` of field `slot` of a flatbuffer table (None when left at default).
    fn field_at(bytes: &[u8], buf: &[u8], loc: usize, slot: usize) -> Option<usize> {
        let entry = vtable_entry(bytes, buf, loc, slot)?;
        let offset = u16::from_le_bytes([bytes[entry], bytes[entry + 1]]) as usize;
        (offset != 0).then_some(position(bytes, buf) + loc + offset)
    }

    macro_rules! at {
        ($bytes:expr, $table:expr, $slot:expr) => {
            field_at($bytes, $table._tab.buf(), $table._tab.loc(), $slot).expect("field is stored")
        };
    }

    /// Byte position of field node `node` (length at +0, null count at +8) of message `index`.
    fn node_pos(bytes: &[u8], index: usize, node: usize) -> usize {
        position(bytes, batch_of(bytes, index).nodes().unwrap().bytes()) + 16 * node
    }

    /// Byte position of buffer `buffer` (offset at +0, length at +8) of message `index`.
    fn buffer_pos(bytes: &[u8], index: usize, buffer: usize) -> usize {
        position(bytes, batch_of(bytes, index).buffers().unwrap().bytes()) + 16 * buffer
    }

    /// (offset, length, body start) of buffer `buffer` of message `index`.
    fn buffer_at(bytes: &[u8], index: usize, buffer: usize) -> (usize, usize, usize) {
        let b = batch_of(bytes, index).buffers().unwrap().get(buffer);
        (b.offset() as usize, b.length() as usize, messages(bytes)[index].1)
    }

    fn set_i64(bytes: &mut [u8], pos: usize, v: i64) {
        bytes[pos..pos + 8].copy_from_slice(&v.to_le_bytes());
    }

    fn with_i64(bytes: &[u8], pos: usize, v: i64) -> Vec<u8> {
        let mut b = bytes.to_vec();
        set_i64(&mut b, pos, v);
        b
    }

    const EOS: [u8; 8] = [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0];

    // ------------------------------------------------------------------ valid streams

    #[test]
    fn accepts_valid_streams_that_arrow_reads() {
        for bytes in [
            write(&[ints()], plain()),
            write(&[mixed(), mixed()], plain()),
            write(&[mixed()], lz4()),
            write(&[exotic()], plain()),
            write(&[exotic(), exotic()], lz4()),
            write(&[two_dicts()], plain()),
        ] {
            let s = ok(&bytes);
            let batches = read_all(&bytes).unwrap();
            assert_eq!(s.batches as usize, batches.len());
            assert_eq!(s.rows, batches.iter().map(|b| b.num_rows() as u64).sum::<u64>());
        }
    }

    #[test]
    fn accepts_legacy_framing() {
        // Pre-0.15 framing: a bare i32 length per message, a bare 0 at the end (metadata V4).
        let bytes = write(&[ints()], IpcWriteOptions::try_new(8, true, fb::MetadataVersion::V4).unwrap());
        assert_ne!(bytes[..4], [0xFF; 4]);
        assert_eq!(bytes[bytes.len() - 4..], [0; 4]);
        ok(&bytes);
    }

    // ------------------------------------------------------------------ framing

    #[test]
    fn rejects_missing_end_of_stream_marker() {
        let bytes = write(&[ints()], plain());
        rejected(&bytes[..bytes.len() - 8], "without the end-of-stream marker");
        rejected(&bytes[..bytes.len() - 3], "truncated stream");
        rejected(&bytes[..bytes.len() - 20], "that remain");
        rejected(&[], "empty");
    }

    #[test]
    fn rejects_bytes_after_end_of_stream_marker() {
        let bytes = write(&[ints()], plain());
        rejected(&[bytes.clone(), bytes].concat(), "follow the end-of-stream marker");
    }

    #[test]
    fn rejects_bad_metadata_lengths() {
        let bytes = write(&[ints()], plain());
        for (value, needle) in
            [(-1i32, "negative metadata length"), (i32::MAX, "exceeds the limit"), (1 << 20, "bytes remain")]
        {
            let mut b = bytes.clone();
            b[4..8].copy_from_slice(&value.to_le_bytes());
            rejected(&b, needle);
        }
        // 300 bytes declaring 2^31-1 bytes of metadata: refused before anything is allocated.
        let mut tiny = vec![0xFF, 0xFF, 0xFF, 0xFF];
        tiny.extend_from_slice(&i32::MAX.to_le_bytes());
        tiny.resize(300, 0);
        rejected(&tiny, "metadata length 2147483647");
    }

    #[test]
    fn rejects_corrupt_flatbuffer() {
        let mut bytes = write(&[ints()], plain());
        let (meta, _, _) = messages(&bytes)[1];
        bytes[meta..meta + 4].copy_from_slice(&0x7FFF_FFF0u32.to_le_bytes()); // root offset
        rejected(&bytes, "not a valid Message flatbuffer");
    }

    #[test]
    fn rejects_bad_body_length() {
        let bytes = write(&[ints()], plain());
        let at = at!(&bytes, message(&bytes, 1), 3); // Message.bodyLength
        for v in [-1i64, (1 << 32) + 8, bytes.len() as i64] {
            rejected(&with_i64(&bytes, at, v), "body length");
        }
    }

    // ------------------------------------------------------------------ messages

    #[test]
    fn rejects_message_order_violations() {
        let bytes = write(&[ints(), ints()], plain());
        let m = messages(&bytes);
        let batch_first = [&bytes[m[1].0 - 8..m[1].2], &EOS[..]].concat();
        rejected(&batch_first, "the first message must be a Schema");
        let two_schemas = [&bytes[..m[1].2], &bytes[..m[0].2], &EOS[..]].concat();
        rejected(&two_schemas, "a second Schema");
        rejected(&EOS, "no schema");
    }

    #[test]
    fn rejects_unsupported_metadata_version() {
        let mut bytes = write(&[ints()], plain());
        let at = at!(&bytes, message(&bytes, 1), 0); // Message.version (i16)
        bytes[at..at + 2].copy_from_slice(&1i16.to_le_bytes()); // V2
        rejected(&bytes, "metadata version 1");
    }

    // ------------------------------------------------------------------ nodes and buffers

    #[test]
    fn rejects_buffer_beyond_body() {
        let bytes = write(&[ints()], plain());
        rejected(&with_i64(&bytes, buffer_pos(&bytes, 1, 1) + 8, 1 << 20), "beyond the message body");
        rejected(&with_i64(&bytes, buffer_pos(&bytes, 1, 3), i64::MAX), "beyond the message body");
        rejected(&with_i64(&bytes, buffer_pos(&bytes, 1, 3) + 8, -1), "negative offset");
    }

    #[test]
    fn rejects_buffer_offset_4gib_plus_k() {
        // On wasm32 `offset as usize` would drop the 2^32 and read a's values as b's.
        let bytes = write(&[ints()], plain());
        let (a_values, _, _) = buffer_at(&bytes, 1, 1);
        let b = with_i64(&bytes, buffer_pos(&bytes, 1, 3), (1i64 << 32) + a_values as i64);
        rejected(&b, "beyond the message body");
    }

    #[test]
    fn rejects_null_count_4gib_plus_1() {
        // On wasm32 a null count of 2^32+1 would become 1: [1, NULL, 3] read as [1, 0, 3].
        let bytes = write(&[ints()], plain());
        let node = node_pos(&bytes, 1, 0);
        rejected(&with_i64(&bytes, node + 8, (1i64 << 32) + 1), "null count 4294967297");
        rejected(&with_i64(&bytes, node, (1i64 << 32) + 3), "length 4294967299");
    }

    #[test]
    fn rejects_bad_node_lengths_and_null_counts() {
        let bytes = write(&[ints()], plain());
        let node = node_pos(&bytes, 1, 0);
        rejected(&with_i64(&bytes, node, -1), "length -1");
        rejected(&with_i64(&bytes, node + 8, -1), "null count -1");
        rejected(&with_i64(&bytes, node + 8, 4), "null count 4 is outside 0..=3");
        rejected(&with_i64(&bytes, node, 2), "has 2 rows but the batch declares 3");
        let length = at!(&bytes, batch_of(&bytes, 1), 0); // RecordBatch.length
        rejected(&with_i64(&bytes, length, (1 << 31) + 5), "batch length");
        rejected(&with_i64(&bytes, length, 4), "declares 4");
    }

    #[test]
    fn rejects_short_validity_bitmap() {
        // A struct's validity goes to BooleanBuffer::new, which panics when it is short.
        let bytes = write(&[mixed()], plain());
        let mut b = with_i64(&bytes, node_pos(&bytes, 2, 3) + 8, 1); // 'st' claims a null
        set_i64(&mut b, buffer_pos(&bytes, 2, 7) + 8, 0); // with an empty bitmap
        rejected(&b, "buffer 7 (validity of 'st')");
    }

    #[test]
    fn rejects_short_values_and_offsets() {
        let bytes = write(&[mixed()], plain());
        for (buffer, needle) in
            [(1, "offsets of 's'"), (4, "offsets of 'l'"), (6, "values of 'l.item'"), (15, "values of 'dec'")]
        {
            rejected(&with_i64(&bytes, buffer_pos(&bytes, 2, buffer) + 8, 4), needle);
        }
    }

    #[test]
    fn rejects_partial_values() {
        // Buffer::typed_data asserts a whole number of values when arrow-rs validates offsets.
        let bytes = write(&[mixed()], plain());
        rejected(&with_i64(&bytes, buffer_pos(&bytes, 2, 1) + 8, 17), "not a whole number of 4-byte values");
        let bytes = write(&[ints()], plain());
        rejected(&with_i64(&bytes, buffer_pos(&bytes, 1, 3) + 8, 25), "not a whole number of 8-byte values");
    }

    #[test]
    fn rejects_too_many_messages() {
        let bytes = write(&[ints(), ints(), ints()], plain());
        assert_eq!(ok(&bytes).batches, 3);
        let e = validate_ipc_stream(&bytes, &IpcLimits { max_messages: 3, ..IpcLimits::default() }).unwrap_err();
        assert!(e.contains("max_messages"), "{e}");
    }

    #[test]
    fn rejects_misaligned_buffer() {
        let bytes = write(&[ints()], plain());
        let (off, _, _) = buffer_at(&bytes, 1, 3);
        let mut b = with_i64(&bytes, buffer_pos(&bytes, 1, 3), off as i64 + 4);
        set_i64(&mut b, buffer_pos(&bytes, 1, 3) + 8, 8);
        rejected(&b, "not a multiple of 8");
    }

    #[test]
    fn rejects_node_and_buffer_count_mismatch() {
        // The nodes of a 2-column batch under a 1-column schema.
        let two = write(&[ints()], plain());
        let one = write(&[batch(vec![("a", ints().column(0).clone())])], plain());
        let (m1, m2) = (messages(&one), messages(&two));
        let spliced = [&one[..m1[0].2], &two[m2[1].0 - 8..m2[1].2], &EOS[..]].concat();
        rejected(&spliced, "the batch has 2 field nodes, the schema needs 1");
    }

    #[test]
    fn rejects_bad_variadic_buffer_counts() {
        // Utf8View: the reader pops one count per view column and asserts none is left over.
        let bytes = write(&[exotic()], plain());
        let counts = batch_of(&bytes, 1).variadicBufferCounts().unwrap();
        assert_eq!(counts.len(), 1);
        let at = position(&bytes, counts.bytes());
        rejected(&with_i64(&bytes, at, -1), "variadic buffer count 0 ('views') is -1");
        rejected(&with_i64(&bytes, at, 1 << 40), "variadic buffer count 0");
    }

    #[test]
    fn rejects_short_union_buffers() {
        // The reader slices type ids and dense offsets itself (a panic when short).
        let bytes = write(&[exotic()], plain());
        // views: node 0, buffers 0-2 (validity, views, 1 data); sparse: node 1, type ids 3;
        // i: node 2, 4-5; s: node 3, 6-8; dense: node 4, type ids 9, offsets 10.
        rejected(&with_i64(&bytes, buffer_pos(&bytes, 1, 3) + 8, 2), "type ids of 'sparse'");
        rejected(&with_i64(&bytes, buffer_pos(&bytes, 1, 10) + 8, 8), "offsets of 'dense'");
    }

    // ------------------------------------------------------------------ dictionaries

    #[test]
    fn rejects_unknown_dictionary_id() {
        let bytes = write(&[two_dicts()], plain());
        let dict = message(&bytes, 2).header_as_dictionary_batch().unwrap();
        assert_eq!(dict.id(), 1);
        rejected(&with_i64(&bytes, at!(&bytes, dict, 0), 77), "dictionary id 77 is not declared");
    }

    /// Dictionary, batch, delta dictionary, batch (DictionaryHandling::Delta).
    fn delta_stream() -> Vec<u8> {
        let mut builder = StringDictionaryBuilder::<Int32Type>::new();
        let mut batches = Vec::new();
        for values in [&["A", "B"][..], &["B", "C"][..]] {
            values.iter().for_each(|v| builder.append_value(v));
            batches.push(batch(vec![("d", Arc::new(builder.finish_preserve_values()) as ArrayRef)]));
        }
        write(&batches, plain().with_dictionary_handling(DictionaryHandling::Delta))
    }

    #[test]
    fn rejects_delta_before_dictionary() {
        let bytes = delta_stream();
        let s = ok(&bytes);
        assert_eq!((s.batches, s.dictionary_batches), (2, 2));
        assert!(message(&bytes, 3).header_as_dictionary_batch().unwrap().isDelta());
        read_all(&bytes).unwrap();
        // Without the first dictionary the delta has nothing to extend.
        let m = messages(&bytes);
        let no_base = [&bytes[..m[0].2], &bytes[m[2].0 - 8..]].concat();
        rejected(&no_base, "delta dictionary batch for id 0 before any dictionary batch");
        // Deltas cost their accumulated size again (arrow-rs concatenates).
        assert!(s.inflated_bytes > 0);
    }

    #[test]
    fn rejects_dictionary_without_data() {
        // A DictionaryBatch without its `data` table makes arrow-rs unwrap None.
        let bytes = write(&[mixed()], plain());
        let dict = message(&bytes, 1).header_as_dictionary_batch().unwrap();
        let entry = vtable_entry(&bytes, dict._tab.buf(), dict._tab.loc(), 1).unwrap();
        let mut b = bytes.clone();
        b[entry..entry + 2].copy_from_slice(&0u16.to_le_bytes());
        rejected(&b, "has no data");
    }

    // ------------------------------------------------------------------ compression

    fn big_ints(n: i64) -> RecordBatch {
        batch(vec![("a", Arc::new(Int64Array::from((0..n).map(|i| i % 7).collect::<Vec<i64>>())) as ArrayRef)])
    }

    #[test]
    fn rejects_bad_uncompressed_length_prefix() {
        let bytes = write(&[big_ints(4096)], lz4());
        ok(&bytes);
        let (off, len, body) = buffer_at(&bytes, 1, 1);
        let prefix = body + off;
        assert_eq!(bytes[prefix..prefix + 8], (4096i64 * 8).to_le_bytes());
        rejected(&with_i64(&bytes, prefix, -2), "uncompressed length -2");
        rejected(&with_i64(&bytes, prefix, 1 << 40), "above 2^31-1");
        rejected(&with_i64(&bytes, prefix, 255 * len as i64), "can produce at most");
        // A compressed buffer shorter than its 8-byte prefix.
        rejected(&with_i64(&bytes, buffer_pos(&bytes, 1, 1) + 8, 5), "8-byte uncompressed length");
    }

    #[test]
    fn rejects_decompression_bomb() {
        // 8 MiB of zeros compress to ~35 KiB (the most LZ4 can do: ~255:1).
        let zeros = batch(vec![("z", Arc::new(Int64Array::from(vec![0i64; 1 << 20])) as ArrayRef)]);
        let bytes = write(&[zeros], lz4());
        assert!(bytes.len() < 100_000, "{}", bytes.len());
        assert_eq!(ok(&bytes).inflated_bytes, 8 << 20);
        let limits = IpcLimits { max_inflated_bytes: 1 << 20, ..IpcLimits::default() };
        assert!(validate_ipc_stream(&bytes, &limits).unwrap_err().contains("would inflate"));
        let limits = IpcLimits { max_inflation_ratio: 10, ..IpcLimits::default() };
        assert!(validate_ipc_stream(&bytes, &limits).unwrap_err().contains("max_inflation_ratio 10"));
    }

    #[test]
    fn rejects_lz4_frame_larger_than_declared() {
        // arrow-rs reads an LZ4 frame to its end before comparing with the declared length.
        let bytes = write(&[big_ints(1 << 20)], lz4());
        let (off, _, body) = buffer_at(&bytes, 1, 1);
        rejected(&with_i64(&bytes, body + off, 16), "far more than the 16 it declares");
        let mut b = bytes.clone();
        b[body + off + 8] ^= 0x01; // the frame's magic number
        rejected(&b, "is not an LZ4 frame");
    }

    #[test]
    fn lz4_bound_counts_blocks() {
        // magic, FLG 0x60 (version 01, independent blocks), BD 0x40 (64 KiB), header checksum,
        // a stored block of 3 bytes, a compressed block of 2 bytes, the end mark.
        let mut f = vec![0x04, 0x22, 0x4D, 0x18, 0x60, 0x40, 0x00];
        f.extend_from_slice(&0x8000_0003u32.to_le_bytes());
        f.extend_from_slice(b"abc");
        f.extend_from_slice(&2u32.to_le_bytes());
        f.extend_from_slice(&[0x10, b'x']);
        f.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(lz4_output_bound(&f).unwrap(), (3 + 510, 64 << 10));
        assert!(lz4_output_bound(&f[..f.len() - 2]).unwrap_err().contains("truncated"));
        let mut g = f.clone();
        g.push(0);
        assert!(lz4_output_bound(&g).unwrap_err().contains("1 bytes follow"));
        f[5] = 0x30; // block size code 3
        assert!(lz4_output_bound(&f).unwrap_err().contains("block size code 3"));
    }

    // ------------------------------------------------------------------ schema

    #[test]
    fn rejects_schema_that_would_panic_fb_to_schema() {
        // An Int of bit width 7: fb_to_schema panics "Int type with bit width of 7".
        let bytes = write(&[ints()], plain());
        let schema = message(&bytes, 0).header_as_schema().unwrap();
        let int = schema.fields().unwrap().get(0).type_as_int().unwrap();
        let at = at!(&bytes, int, 0); // Int.bitWidth
        let mut b = bytes.clone();
        b[at..at + 4].copy_from_slice(&7i32.to_le_bytes());
        rejected(&b, "integer bit width 7");
        // Type code 99 (unknown): fb_to_schema's unimplemented!().
        let field = schema.fields().unwrap().get(1);
        let at = at!(&bytes, field, 2); // Field.type_type (u8)
        let mut b = bytes.clone();
        b[at] = 99;
        rejected(&b, "code 99");
    }

    #[test]
    fn rejects_schema_limits() {
        let bytes = write(&[mixed()], plain());
        let e = validate_ipc_stream(&bytes, &IpcLimits { max_schema_fields: 3, ..IpcLimits::default() }).unwrap_err();
        assert!(e.contains("max_schema_fields"), "{e}");
        let e = validate_ipc_stream(&bytes, &IpcLimits { max_schema_depth: 1, ..IpcLimits::default() }).unwrap_err();
        assert!(e.contains("max_schema_depth"), "{e}");
    }

    #[test]
    fn rejects_too_many_virtual_values() {
        // A Null column of 2^31-1 rows needs no bytes: 300 bytes that a query would expand.
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Null, true)]));
        let nulls = RecordBatch::try_new(schema, vec![new_null_array(&DataType::Null, 5)]).unwrap();
        let bytes = write(&[nulls], plain());
        ok(&bytes);
        let node = node_pos(&bytes, 1, 0);
        let mut b = with_i64(&bytes, node, i32::MAX as i64);
        set_i64(&mut b, node + 8, i32::MAX as i64);
        set_i64(&mut b, at!(&bytes, batch_of(&bytes, 1), 0), i32::MAX as i64);
        rejected(&b, "values that occupy no bytes");
        assert_eq!(read_all(&bytes).unwrap()[0].column(0).len(), 5);
    }
}
