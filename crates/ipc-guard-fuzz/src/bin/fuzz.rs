//! Seeded mutation fuzzer for ipc_guard::validate_ipc_stream.
//!
//! usage: fuzz [COUNT] [SEED] [--count N] [--seed N] [--seconds S] [--save DIR] [--no-validate]
//!
//! Stops after COUNT inputs (default 100,000; unlimited when only --seconds is given) or S seconds,
//! whichever comes first. The seed defaults to a random one, always printed; input #n of a seed is
//! the same on every run, so `--seed S --count n+1` reproduces it. Exit status 1 when any input
//! the validator accepted panicked the decoder (each one printed with its label, and written to
//! DIR/panic-<n>.arrows with --save), 2 on a usage error. The last line is the summary:
//! `ipc-guard fuzz: N inputs, A accepted, R rejected, P panics after validation, S s, seed X`.
//! --no-validate decodes every input without the validator (only inputs that would abort the
//! process on a huge allocation are left out, counted as rejected): it must find panics, which
//! proves the harness can fail.
//!
//! Builds valid IPC streams with arrow-rs's StreamWriter, mutates them (bit flips, bytes set,
//! i32/i64 fields set to edge values, truncations, message duplication/swap/drop, splices),
//! runs the validator, and runs arrow-rs's StreamReader inside catch_unwind on every input
//! (the accepted ones to prove no panic gets through, the rejected ones to count what the
//! validator prevented). A counting allocator records the decoder's peak allocation.
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arrow::array::*;
use arrow::buffer::ScalarBuffer;
use arrow::datatypes::*;
use arrow::ipc as fb;
use arrow::ipc::writer::{DictionaryHandling, IpcWriteOptions, StreamWriter};
use ipc_guard_fuzz::ipc_guard::{validate_ipc_stream, IpcLimits};

#[path = "../common.rs"]
mod common;
use common::{arrow_safe_to_try, decode, scan, Msg};

// ---------------------------------------------------------------- allocation accounting

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            note(l.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            note(l.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            LIVE.fetch_sub(l.size(), Ordering::Relaxed);
            note(new);
        }
        q
    }
}

fn note(size: usize) {
    let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(live, Ordering::Relaxed);
    LARGEST.fetch_max(size, Ordering::Relaxed);
}

#[global_allocator]
static ALLOC: Counting = Counting;

// ---------------------------------------------------------------- rng

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

// ---------------------------------------------------------------- base streams

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

fn rb(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(columns).unwrap()
}

fn lz4() -> IpcWriteOptions {
    IpcWriteOptions::default().try_with_compression(Some(fb::CompressionType::LZ4_FRAME)).unwrap()
}

fn base_streams() -> Vec<(String, Vec<u8>)> {
    let plain = IpcWriteOptions::default;
    let ints = |n: i64| {
        rb(vec![
            (
                "a",
                Arc::new(Int64Array::from((0..n).map(|i| (i % 5 != 1).then_some(i * 3)).collect::<Vec<_>>()))
                    as ArrayRef,
            ),
            ("b", Arc::new(Int32Array::from((0..n).map(|i| i as i32 - 7).collect::<Vec<_>>())) as ArrayRef),
            ("c", Arc::new(UInt8Array::from((0..n).map(|i| (i * 7) as u8).collect::<Vec<_>>())) as ArrayRef),
        ])
    };
    let strings = || {
        rb(vec![
            (
                "s",
                Arc::new(StringArray::from(vec![Some("alpha"), None, Some(""), Some("Zürich"), Some("東京")]))
                    as ArrayRef,
            ),
            (
                "ls",
                Arc::new(LargeStringArray::from(vec![Some("x"), Some("yy"), None, Some("zzz"), Some("")])) as ArrayRef,
            ),
            (
                "bin",
                Arc::new(BinaryArray::from(vec![Some(&b"\x00\x01"[..]), None, Some(b""), Some(b"abc"), Some(b"d")]))
                    as ArrayRef,
            ),
        ])
    };
    let bools = || {
        rb(vec![
            (
                "t",
                Arc::new(BooleanArray::from(vec![
                    Some(true),
                    None,
                    Some(false),
                    Some(true),
                    None,
                    Some(true),
                    Some(false),
                    Some(false),
                    Some(true),
                ])) as ArrayRef,
            ),
            (
                "u",
                Arc::new(BooleanArray::from(vec![true, false, true, true, false, false, true, true, false]))
                    as ArrayRef,
            ),
        ])
    };
    let nested = || {
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), Some(2), None]),
            None,
            Some(vec![]),
            Some(vec![Some(4)]),
        ]);
        let strukt = StructArray::try_new(
            Fields::from(vec![Field::new("x", DataType::Int32, true), Field::new("y", DataType::Utf8, true)]),
            vec![
                Arc::new(Int32Array::from(vec![Some(1), None, Some(3), Some(4)])) as ArrayRef,
                Arc::new(StringArray::from(vec![Some("p"), Some("q"), None, Some("r")])) as ArrayRef,
            ],
            Some(vec![true, true, false, true].into()),
        )
        .unwrap();
        let inner = StructArray::from(vec![(
            Arc::new(Field::new("v", DataType::Int64, true)),
            Arc::new(Int64Array::from(vec![Some(1), None, Some(3), Some(4), Some(5)])) as ArrayRef,
        )]);
        let list_of_struct = ListArray::new(
            Arc::new(Field::new("item", inner.data_type().clone(), true)),
            arrow::buffer::OffsetBuffer::new(vec![0i32, 2, 2, 5, 5].into()),
            Arc::new(inner),
            Some(vec![true, false, true, true].into()),
        );
        let large_list = LargeListArray::from_iter_primitive::<Int16Type, _, _>(vec![
            Some(vec![Some(1)]),
            Some(vec![None, Some(2)]),
            None,
            Some(vec![]),
        ]);
        rb(vec![
            ("l", Arc::new(list) as ArrayRef),
            ("st", Arc::new(strukt) as ArrayRef),
            ("ls", Arc::new(list_of_struct) as ArrayRef),
            ("ll", Arc::new(large_list) as ArrayRef),
        ])
    };
    let dicts = || {
        let d8: DictionaryArray<Int8Type> =
            vec![Some("red"), None, Some("green"), Some("red"), Some("blue")].into_iter().collect();
        let d32: DictionaryArray<Int32Type> =
            vec![Some("x"), Some("y"), Some("x"), None, Some("z")].into_iter().collect();
        rb(vec![("d8", Arc::new(d8) as ArrayRef), ("d32", Arc::new(d32) as ArrayRef)])
    };
    let decimals = || {
        rb(vec![
            (
                "d128",
                Arc::new(
                    Decimal128Array::from(vec![Some(12345), None, Some(-1), Some(0)])
                        .with_precision_and_scale(12, 3)
                        .unwrap(),
                ) as ArrayRef,
            ),
            (
                "d256",
                Arc::new(
                    Decimal256Array::from(vec![Some(i256::from(7)), None, Some(i256::from(-9)), Some(i256::from(1))])
                        .with_precision_and_scale(40, 5)
                        .unwrap(),
                ) as ArrayRef,
            ),
            (
                "d32",
                Arc::new(
                    Decimal32Array::from(vec![Some(1), Some(2), None, Some(3)]).with_precision_and_scale(9, 2).unwrap(),
                ) as ArrayRef,
            ),
        ])
    };
    let temporal = || {
        rb(vec![
            (
                "ts",
                Arc::new(
                    TimestampMicrosecondArray::from(vec![Some(1_700_000_000_000_000), None, Some(0)])
                        .with_timezone("Europe/Zurich"),
                ) as ArrayRef,
            ),
            ("tsn", Arc::new(TimestampNanosecondArray::from(vec![Some(1), Some(2), None])) as ArrayRef),
            ("d", Arc::new(Date32Array::from(vec![Some(19000), None, Some(1)])) as ArrayRef),
            ("t", Arc::new(Time64MicrosecondArray::from(vec![Some(1), Some(86_399_000_000), None])) as ArrayRef),
            ("dur", Arc::new(DurationMillisecondArray::from(vec![Some(5), None, Some(-5)])) as ArrayRef),
            (
                "iv",
                Arc::new(IntervalMonthDayNanoArray::from(vec![
                    Some(IntervalMonthDayNano::new(1, 2, 3)),
                    None,
                    Some(IntervalMonthDayNano::new(0, 0, 0)),
                ])) as ArrayRef,
            ),
            ("f", Arc::new(Float64Array::from(vec![Some(1.5), None, Some(f64::NAN)])) as ArrayRef),
            ("h", Arc::new(Float32Array::from(vec![Some(0.5), Some(-0.0), None])) as ArrayRef),
        ])
    };
    let exotic = || {
        let views = StringViewArray::from(vec![Some("short"), None, Some("a string longer than twelve bytes")]);
        let bviews = BinaryViewArray::from(vec![Some(&b"bytes that are longer than twelve"[..]), Some(b"b"), None]);
        let fields = UnionFields::try_new(
            vec![0, 5],
            vec![Field::new("i", DataType::Int32, true), Field::new("s", DataType::Utf8, true)],
        )
        .unwrap();
        let sparse = UnionArray::try_new(
            fields.clone(),
            ScalarBuffer::from(vec![0i8, 5, 0]),
            None,
            vec![
                Arc::new(Int32Array::from(vec![1, 2, 3])) as ArrayRef,
                Arc::new(StringArray::from(vec!["a", "b", "c"])) as ArrayRef,
            ],
        )
        .unwrap();
        let dense = UnionArray::try_new(
            fields,
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
        map.keys().append_value("l");
        map.values().append_null();
        map.append(true).unwrap();
        map.append(false).unwrap();
        map.append(true).unwrap();
        let ree =
            RunArray::<Int32Type>::try_new(&Int32Array::from(vec![2, 3]), &StringArray::from(vec![Some("r"), None]))
                .unwrap();
        let fsl = FixedSizeListArray::from_iter_primitive::<Int32Type, _, _>(
            vec![Some(vec![Some(1), Some(2)]), None, Some(vec![Some(3), None])],
            2,
        );
        let fsb = FixedSizeBinaryArray::try_from_sparse_iter_with_size(
            vec![Some(b"abcd".to_vec()), None, Some(b"wxyz".to_vec())].into_iter(),
            4,
        )
        .unwrap();
        rb(vec![
            ("views", Arc::new(views) as ArrayRef),
            ("bviews", Arc::new(bviews) as ArrayRef),
            ("sparse", Arc::new(sparse) as ArrayRef),
            ("dense", Arc::new(dense) as ArrayRef),
            ("map", Arc::new(map.finish()) as ArrayRef),
            ("ree", Arc::new(ree) as ArrayRef),
            ("fsl", Arc::new(fsl) as ArrayRef),
            ("fsb", Arc::new(fsb) as ArrayRef),
            ("nulls", new_null_array(&DataType::Null, 3)),
        ])
    };
    let deltas = || {
        let mut builder = StringDictionaryBuilder::<Int16Type>::new();
        let mut out = Vec::new();
        for values in [&["A", "B"][..], &["B", "C", "D"][..], &["E"][..]] {
            values.iter().for_each(|v| builder.append_value(v));
            builder.append_null();
            out.push(rb(vec![("dd", Arc::new(builder.finish_preserve_values()) as ArrayRef)]));
        }
        out
    };
    let legacy = IpcWriteOptions::try_new(8, true, fb::MetadataVersion::V4).unwrap();
    vec![
        ("ints".into(), write(&[ints(5)], plain())),
        ("ints x3 batches".into(), write(&[ints(5), ints(3), ints(0)], plain())),
        ("ints lz4 (400 rows)".into(), write(&[ints(400)], lz4())),
        ("strings".into(), write(&[strings()], plain())),
        ("strings lz4".into(), write(&[strings(), strings()], lz4())),
        ("booleans".into(), write(&[bools()], plain())),
        ("nested".into(), write(&[nested()], plain())),
        ("nested lz4".into(), write(&[nested()], lz4())),
        ("dictionaries".into(), write(&[dicts(), dicts()], plain())),
        ("decimals".into(), write(&[decimals()], plain())),
        ("temporal".into(), write(&[temporal()], plain())),
        ("temporal lz4".into(), write(&[temporal()], lz4())),
        ("exotic".into(), write(&[exotic()], plain())),
        ("exotic lz4".into(), write(&[exotic(), exotic()], lz4())),
        (
            "delta dictionaries".into(),
            write(&deltas(), IpcWriteOptions::default().with_dictionary_handling(DictionaryHandling::Delta)),
        ),
        ("legacy V4 framing".into(), write(&[ints(5), ints(2)], legacy)),
    ]
}

// ---------------------------------------------------------------- stream structure

/// A mutable integer field: position, width in bytes, what it is.
#[derive(Clone, Copy)]
struct Loc {
    pos: usize,
    width: u8,
    kind: &'static str,
}

fn position(b: &[u8], inner: &[u8]) -> usize {
    inner.as_ptr() as usize - b.as_ptr() as usize
}

fn field_at(b: &[u8], buf: &[u8], loc: usize, slot: usize) -> Option<usize> {
    let table = position(b, buf) + loc;
    let soff = i32::from_le_bytes(b[table..table + 4].try_into().ok()?) as i64;
    let vt = usize::try_from(table as i64 - soff).ok()?;
    let vt_len = u16::from_le_bytes([*b.get(vt)?, *b.get(vt + 1)?]) as usize;
    if 4 + 2 * slot + 2 > vt_len {
        return None;
    }
    let off = u16::from_le_bytes([b[vt + 4 + 2 * slot], b[vt + 5 + 2 * slot]]) as usize;
    (off != 0).then_some(table + off)
}

macro_rules! slot {
    ($b:expr, $t:expr, $slot:expr) => {
        field_at($b, $t._tab.buf(), $t._tab.loc(), $slot)
    };
}

fn schema_locs(b: &[u8], field: fb::Field<'_>, out: &mut Vec<Loc>, depth: usize) {
    if depth > 8 {
        return;
    }
    if let Some(p) = slot!(b, field, 2) {
        out.push(Loc { pos: p, width: 1, kind: "type_type" });
    }
    if let Some(d) = field.dictionary() {
        if let Some(p) = slot!(b, d, 0) {
            out.push(Loc { pos: p, width: 8, kind: "schema dict id" });
        }
        if let Some(i) = d.indexType() {
            if let Some(p) = slot!(b, i, 0) {
                out.push(Loc { pos: p, width: 4, kind: "dict index bitWidth" });
            }
        }
    }
    let mut push = |p: Option<usize>, width, kind| {
        if let Some(p) = p {
            out.push(Loc { pos: p, width, kind });
        }
    };
    if let Some(t) = field.type_as_int() {
        push(slot!(b, t, 0), 4, "int bitWidth");
    }
    if let Some(t) = field.type_as_decimal() {
        push(slot!(b, t, 0), 4, "decimal precision");
        push(slot!(b, t, 1), 4, "decimal scale");
        push(slot!(b, t, 2), 4, "decimal bitWidth");
    }
    if let Some(t) = field.type_as_fixed_size_binary() {
        push(slot!(b, t, 0), 4, "fsb byteWidth");
    }
    if let Some(t) = field.type_as_fixed_size_list() {
        push(slot!(b, t, 0), 4, "fsl listSize");
    }
    if let Some(t) = field.type_as_time() {
        push(slot!(b, t, 1), 4, "time bitWidth");
    }
    if let Some(t) = field.type_as_union() {
        push(slot!(b, t, 0), 2, "union mode");
        if let Some(ids) = t.typeIds() {
            let base = position(b, ids.bytes());
            for i in 0..ids.len() {
                out.push(Loc { pos: base + 4 * i, width: 4, kind: "union type id" });
            }
        }
    }
    if let Some(children) = field.children() {
        out.push(Loc { pos: position(b, children.bytes()) - 4, width: 4, kind: "children count" });
        for c in children.iter() {
            schema_locs(b, c, out, depth + 1);
        }
    }
}

fn batch_locs(b: &[u8], msg: &Msg, rb: fb::RecordBatch<'_>, compressed: bool, out: &mut Vec<Loc>) {
    if let Some(p) = slot!(b, rb, 0) {
        out.push(Loc { pos: p, width: 8, kind: "batch length" });
    }
    if let Some(nodes) = rb.nodes() {
        let base = position(b, nodes.bytes());
        out.push(Loc { pos: base - 4, width: 4, kind: "node count" });
        for i in 0..nodes.len() {
            out.push(Loc { pos: base + 16 * i, width: 8, kind: "node length" });
            out.push(Loc { pos: base + 16 * i + 8, width: 8, kind: "null_count" });
        }
    }
    if let Some(buffers) = rb.buffers() {
        let base = position(b, buffers.bytes());
        out.push(Loc { pos: base - 4, width: 4, kind: "buffer count" });
        for (i, buf) in buffers.iter().enumerate() {
            out.push(Loc { pos: base + 16 * i, width: 8, kind: "buffer offset" });
            out.push(Loc { pos: base + 16 * i + 8, width: 8, kind: "buffer length" });
            let (o, l) = (buf.offset(), buf.length());
            if compressed && o >= 0 && l >= 8 && (msg.meta_end as u64 + o as u64 + l as u64) <= msg.end as u64 {
                out.push(Loc { pos: msg.meta_end + o as usize, width: 8, kind: "uncompressed length prefix" });
            }
        }
    }
    if let Some(v) = rb.variadicBufferCounts() {
        let base = position(b, v.bytes());
        for i in 0..v.len() {
            out.push(Loc { pos: base + 8 * i, width: 8, kind: "variadic count" });
        }
    }
    if let Some(c) = rb.compression() {
        if let Some(p) = slot!(b, c, 0) {
            out.push(Loc { pos: p, width: 1, kind: "compression codec" });
        }
    }
}

fn locations(b: &[u8]) -> Vec<Loc> {
    let (msgs, _) = scan(b);
    let mut out = Vec::new();
    for msg in &msgs {
        out.push(Loc { pos: msg.meta - 4, width: 4, kind: "metadata length" });
        let Ok(m) = fb::root_as_message(&b[msg.meta..msg.meta_end]) else { continue };
        if let Some(p) = slot!(b, m, 3) {
            out.push(Loc { pos: p, width: 8, kind: "bodyLength" });
        }
        if let Some(p) = slot!(b, m, 0) {
            out.push(Loc { pos: p, width: 2, kind: "version" });
        }
        if let Some(p) = slot!(b, m, 1) {
            out.push(Loc { pos: p, width: 1, kind: "header type" });
        }
        if let Some(s) = m.header_as_schema() {
            if let Some(f) = s.fields() {
                for field in f.iter() {
                    schema_locs(b, field, &mut out, 0);
                }
            }
        }
        if let Some(rb) = m.header_as_record_batch() {
            batch_locs(b, msg, rb, rb.compression().is_some(), &mut out);
        }
        if let Some(d) = m.header_as_dictionary_batch() {
            if let Some(p) = slot!(b, d, 0) {
                out.push(Loc { pos: p, width: 8, kind: "dictionary id" });
            }
            if let Some(p) = slot!(b, d, 2) {
                out.push(Loc { pos: p, width: 1, kind: "isDelta" });
            }
            if let Some(rb) = d.data() {
                batch_locs(b, msg, rb, rb.compression().is_some(), &mut out);
            }
        }
    }
    out
}

// ---------------------------------------------------------------- mutations

fn edge_value(rng: &mut Rng, width: u8, orig: i64) -> (i64, String) {
    let k = rng.below(64) as i64;
    let choices: Vec<(i64, String)> = match width {
        8 => vec![
            (-1, "-1".into()),
            (0, "0".into()),
            (1, "1".into()),
            (i32::MAX as i64, "2^31-1".into()),
            (1 << 31, "2^31".into()),
            (1 << 32, "2^32".into()),
            ((1 << 32) + k, format!("2^32+{k}")),
            ((1i64 << 32).wrapping_add(orig), "orig+2^32".into()),
            (orig.wrapping_add(1), "orig+1".into()),
            (orig.wrapping_sub(1), "orig-1".into()),
            (orig.wrapping_add(8), "orig+8".into()),
            (orig.wrapping_mul(2), "orig*2".into()),
            (i64::MAX, "i64::MAX".into()),
            (i64::MIN, "i64::MIN".into()),
            (1 << 62, "2^62".into()),
            (u32::MAX as i64, "2^32-1".into()),
            (rng.next() as i64, "random".into()),
        ],
        4 => vec![
            (-1, "-1".into()),
            (0, "0".into()),
            (1, "1".into()),
            (i32::MAX as i64, "2^31-1".into()),
            (i32::MIN as i64, "-2^31".into()),
            (orig.wrapping_add(1), "orig+1".into()),
            (orig.wrapping_sub(1), "orig-1".into()),
            (orig.wrapping_add(8), "orig+8".into()),
            (orig.wrapping_mul(2), "orig*2".into()),
            (0x7FFF_FFF0, "2^31-16".into()),
            (rng.next() as u32 as i32 as i64, "random".into()),
        ],
        2 => vec![
            (0, "0".into()),
            (1, "1".into()),
            (-1, "-1".into()),
            (orig ^ 1, "orig^1".into()),
            (orig + 1, "orig+1".into()),
            (99, "99".into()),
        ],
        _ => vec![
            (0, "0".into()),
            (0xFF, "255".into()),
            (orig ^ 1, "orig^1".into()),
            (orig + 1, "orig+1".into()),
            (rng.below(256) as i64, "random".into()),
        ],
    };
    let i = rng.below(choices.len());
    choices[i].clone()
}

fn read_int(b: &[u8], pos: usize, width: u8) -> i64 {
    match width {
        8 => i64::from_le_bytes(b[pos..pos + 8].try_into().unwrap()),
        4 => i32::from_le_bytes(b[pos..pos + 4].try_into().unwrap()) as i64,
        2 => i16::from_le_bytes(b[pos..pos + 2].try_into().unwrap()) as i64,
        _ => b[pos] as i64,
    }
}

fn write_int(b: &mut [u8], pos: usize, width: u8, v: i64) {
    match width {
        8 => b[pos..pos + 8].copy_from_slice(&v.to_le_bytes()),
        4 => b[pos..pos + 4].copy_from_slice(&(v as i32).to_le_bytes()),
        2 => b[pos..pos + 2].copy_from_slice(&(v as i16).to_le_bytes()),
        _ => b[pos] = v as u8,
    }
}

const KINDS: [&str; 10] = ["flip", "byte", "field", "word", "truncate", "dup", "swap", "drop", "splice", "lz4"];

/// Applies one mutation; returns its kind and label.
fn mutate_once(rng: &mut Rng, b: &mut Vec<u8>, bases: &[(String, Vec<u8>)]) -> (&'static str, String) {
    loop {
        let kind = match rng.below(100) {
            0..=11 => "flip",
            12..=19 => "byte",
            20..=54 => "field",
            55..=62 => "word",
            63..=69 => "truncate",
            70..=75 => "dup",
            76..=81 => "swap",
            82..=86 => "drop",
            87..=93 => "splice",
            _ => "lz4",
        };
        if b.is_empty() {
            b.extend_from_slice(&bases[0].1);
        }
        let (msgs, rest) = scan(b);
        match kind {
            "flip" => {
                let bit = rng.below(b.len() * 8);
                b[bit / 8] ^= 1 << (bit % 8);
                return (kind, format!("flip:bit {bit}"));
            }
            "byte" => {
                let p = rng.below(b.len());
                let v = [0x00u8, 0xFF, 0x80, 0x7F][rng.below(4)];
                b[p] = v;
                return (kind, format!("byte={v:#04x} @ offset {p}"));
            }
            "field" => {
                let locs = locations(b);
                if locs.is_empty() {
                    continue;
                }
                let loc = locs[rng.below(locs.len())];
                let orig = read_int(b, loc.pos, loc.width);
                let (v, name) = edge_value(rng, loc.width, orig);
                write_int(b, loc.pos, loc.width, v);
                return (kind, format!("{}={} @ offset {} (was {orig})", loc.kind, name, loc.pos));
            }
            "word" => {
                // Any aligned i32/i64 inside some message's metadata.
                if msgs.is_empty() {
                    continue;
                }
                let m = msgs[rng.below(msgs.len())];
                let width = if rng.chance(50) { 8u8 } else { 4 };
                let span = m.meta_end - m.meta;
                if span < width as usize {
                    continue;
                }
                let p = m.meta + (rng.below(span - width as usize + 1) & !(width as usize - 1));
                let orig = read_int(b, p, width);
                let (v, name) = edge_value(rng, width, orig);
                write_int(b, p, width, v);
                return (kind, format!("i{}={} @ offset {p}", width as u32 * 8, name));
            }
            "truncate" => {
                let cut = if rng.chance(50) && !msgs.is_empty() {
                    let m = msgs[rng.below(msgs.len())];
                    [m.start, m.meta, m.meta_end, m.end, m.end.saturating_sub(1), m.meta_end + 1][rng.below(6)]
                        .min(b.len())
                } else {
                    rng.below(b.len())
                };
                b.truncate(cut);
                return (kind, format!("truncate:at {cut}"));
            }
            "dup" | "swap" | "drop" => {
                if msgs.len() < 2 && kind != "drop" {
                    continue;
                }
                if msgs.is_empty() {
                    continue;
                }
                let parts: Vec<Vec<u8>> = msgs.iter().map(|m| b[m.start..m.end].to_vec()).collect();
                let tail = b[rest..].to_vec();
                let mut parts = parts;
                let i = rng.below(parts.len());
                let label = match kind {
                    "dup" => {
                        let j = rng.below(parts.len() + 1);
                        let copy = parts[i].clone();
                        parts.insert(j, copy);
                        format!("dup:message {i} to {j}")
                    }
                    "swap" => {
                        let j = rng.below(parts.len());
                        parts.swap(i, j);
                        format!("swap:messages {i},{j}")
                    }
                    _ => {
                        parts.remove(i);
                        format!("drop:message {i}")
                    }
                };
                *b = parts.concat();
                b.extend_from_slice(&tail);
                return (kind, label);
            }
            "splice" => {
                let other = &bases[rng.below(bases.len())];
                let (omsgs, _) = scan(&other.1);
                if msgs.is_empty() || omsgs.is_empty() {
                    continue;
                }
                let cut = msgs[rng.below(msgs.len())].end;
                let from = omsgs[rng.below(omsgs.len())].start;
                let mut out = b[..cut].to_vec();
                out.extend_from_slice(&other.1[from..]);
                *b = out;
                return (kind, format!("splice:{cut} + '{}'[{from}..]", other.0));
            }
            _ => {
                // lz4: damage a byte inside a compressed buffer's frame (after the prefix).
                let locs: Vec<Loc> =
                    locations(b).into_iter().filter(|l| l.kind == "uncompressed length prefix").collect();
                if locs.is_empty() {
                    continue;
                }
                let l = locs[rng.below(locs.len())];
                let p = l.pos + 8 + rng.below(24);
                if p >= b.len() {
                    continue;
                }
                let v = [0x00u8, 0xFF, 0x7F, 0x40][rng.below(4)];
                b[p] = v;
                return (kind, format!("lz4 frame byte={v:#04x} @ offset {p}"));
            }
        }
    }
}

// ---------------------------------------------------------------- options

struct Options {
    count: u64,
    seed: u64,
    seconds: Option<f64>,
    save: Option<String>,
    validate: bool,
}

const USAGE: &str = "usage: fuzz [COUNT] [SEED] [--count N] [--seed N] [--seconds S] [--save DIR] [--no-validate]";

fn parse_options(args: &[String]) -> Result<Options, String> {
    fn number<T: std::str::FromStr>(name: &str, value: Option<&String>) -> Result<T, String> {
        let value = value.ok_or_else(|| format!("{name} needs a value"))?;
        value.parse().map_err(|_| format!("{name}: not a number: {value:?}"))
    }
    let (mut count, mut seed, mut seconds, mut save, mut validate) = (None, None, None, None, true);
    let mut positional = 0;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--count" => count = Some(number("--count", it.next())?),
            "--seed" => seed = Some(number("--seed", it.next())?),
            "--seconds" => {
                let s: f64 = number("--seconds", it.next())?;
                // NaN is not positive either.
                if s.is_nan() || s <= 0.0 {
                    return Err("--seconds must be positive".into());
                }
                seconds = Some(s);
            }
            "--save" => save = Some(it.next().ok_or("--save needs a directory")?.clone()),
            "--no-validate" => validate = false,
            "-h" | "--help" => return Err(String::new()),
            a if a.starts_with('-') => return Err(format!("unknown option {a}")),
            a => {
                match positional {
                    0 => count = Some(number("COUNT", Some(&a.to_string()))?),
                    1 => seed = Some(number("SEED", Some(&a.to_string()))?),
                    _ => return Err(format!("unexpected argument {a}")),
                }
                positional += 1;
            }
        }
    }
    let count = count.unwrap_or(if seconds.is_some() { u64::MAX } else { 100_000 });
    let seed = seed.unwrap_or_else(|| {
        let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        // Small enough to type back: a random seed below 10^9.
        (t.as_nanos() as u64 ^ (std::process::id() as u64) << 32).wrapping_mul(0x9E37_79B9_7F4A_7C15) % 1_000_000_000
    });
    Ok(Options { count, seed, seconds, save, validate })
}

// ---------------------------------------------------------------- main

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse_options(&args) {
        Ok(o) => o,
        Err(e) => {
            if e.is_empty() {
                println!("{USAGE}");
                std::process::exit(0);
            }
            eprintln!("fuzz: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let (count, seed) = (opts.count, opts.seed);
    let deadline = opts.seconds.map(|s| Instant::now() + Duration::from_secs_f64(s));

    let bases = base_streams();
    let limits = IpcLimits::default();
    let mut originals = Vec::new();
    for (name, bytes) in &bases {
        validate_ipc_stream(bytes, &limits).unwrap_or_else(|e| panic!("base '{name}' rejected: {e}"));
        originals.push(decode(bytes).unwrap_or_else(|e| panic!("base '{name}' unreadable: {e}")));
    }
    // From here on a panic's message is kept for the report instead of printed (the decoder
    // panics on many rejected inputs, on purpose).
    let last_panic: Arc<Mutex<String>> = Arc::new(Mutex::new(String::new()));
    {
        let last = last_panic.clone();
        panic::set_hook(Box::new(move |info| {
            *last.lock().unwrap_or_else(|e| e.into_inner()) = info.to_string();
        }));
    }
    let budget = match (count, opts.seconds) {
        (u64::MAX, Some(s)) => format!("for {s} s"),
        (n, Some(s)) => format!("{n} inputs or {s} s, whichever comes first"),
        (n, None) => format!("{n} inputs"),
    };
    println!(
        "ipc-guard fuzz: {} base streams ({} bytes in all), {budget}, seed {seed}{}",
        bases.len(),
        bases.iter().map(|b| b.1.len()).sum::<usize>(),
        if opts.validate { "" } else { ", VALIDATION BYPASSED (--no-validate)" }
    );

    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let start = Instant::now();
    let mut next_progress = start + Duration::from_secs(15);
    let mut done = 0u64;
    let mut accepted = 0u64;
    let mut accepted_same = 0u64;
    let mut accepted_different: BTreeMap<&str, u64> = BTreeMap::new();
    let mut arrow_rejected_after = 0u64;
    let mut panics_after = 0u64;
    let mut panic_labels: Vec<String> = Vec::new();
    let mut rejected = 0u64;
    let mut rejected_arrow_panics = 0u64;
    let mut rejected_arrow_ok = 0u64;
    let mut rejected_arrow_err = 0u64;
    let mut rejected_not_tried = 0u64;
    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    let mut prevented: BTreeMap<String, u64> = BTreeMap::new();
    let mut worst_ratio = (0.0f64, String::new(), 0usize, 0usize);
    let mut worst_plain = (0.0f64, String::new(), 0usize, 0usize);
    let mut examples_ok_by_arrow: Vec<String> = Vec::new();
    let mut largest_accepted = 0usize;
    let mut ok_reasons: BTreeMap<String, u64> = BTreeMap::new();
    let mut worst_excess = 0usize;
    let mut big_values_accepted = 0u64;
    let mut big_examples: Vec<String> = Vec::new();

    for n in 0..count {
        if let Some(deadline) = deadline {
            if Instant::now() >= deadline {
                break;
            }
        }
        if Instant::now() >= next_progress {
            println!(
                "  {:5.0} s: {n} inputs, {} accepted, {rejected} rejected, {panics_after} panics after validation",
                start.elapsed().as_secs_f64(),
                accepted + arrow_rejected_after + panics_after
            );
            next_progress += Duration::from_secs(15);
        }
        done = n + 1;
        let which = rng.below(bases.len());
        let mut bytes = bases[which].1.clone();
        let mut labels = Vec::new();
        let stack = match rng.below(10) {
            0..=6 => 1,
            7..=8 => 2,
            _ => 3,
        };
        let mut kinds_here = Vec::new();
        for _ in 0..stack {
            let (kind, label) = mutate_once(&mut rng, &mut bytes, &bases);
            kinds_here.push(kind);
            labels.push(label);
        }
        for k in &kinds_here {
            *kinds.entry(k).or_default() += 1;
        }
        let label = format!("#{n} '{}': {}", bases[which].0, labels.join(" | "));
        let verdict = if opts.validate {
            validate_ipc_stream(&bytes, &limits).map(|_| ())
        } else if arrow_safe_to_try(&bytes) {
            Ok(())
        } else {
            Err("not decoded: arrow-rs would allocate a declared size that does not fit the input (--no-validate)"
                .to_string())
        };
        match verdict {
            Ok(_) => {
                let live = LIVE.load(Ordering::Relaxed);
                PEAK.store(live, Ordering::Relaxed);
                LARGEST.store(0, Ordering::Relaxed);
                let result = panic::catch_unwind(AssertUnwindSafe(|| decode(&bytes)));
                let peak = PEAK.load(Ordering::Relaxed).saturating_sub(live);
                largest_accepted = largest_accepted.max(LARGEST.load(Ordering::Relaxed));
                worst_excess = worst_excess.max(peak.saturating_sub(2 * bytes.len()));
                if labels.iter().any(|l| {
                    ["=2^31", "=2^32", "orig+2^32", "i64::M", "=2^62", "=-1 "].iter().any(|m| l.contains(m))
                        && !l.starts_with("dictionary id")
                        && !l.starts_with("schema dict id")
                }) {
                    big_values_accepted += 1;
                    if big_examples.len() < 10 {
                        big_examples.push(label.clone());
                    }
                }
                let ratio = peak as f64 / bytes.len().max(1) as f64;
                if !bytes.windows(4).any(|w| w == [0x04, 0x22, 0x4D, 0x18]) && ratio > worst_plain.0 {
                    worst_plain = (ratio, label.clone(), peak, bytes.len());
                }
                if ratio > worst_ratio.0 {
                    worst_ratio = (ratio, label.clone(), peak, bytes.len());
                }
                match result {
                    Err(_) => {
                        panics_after += 1;
                        let message = last_panic.lock().unwrap_or_else(|e| e.into_inner()).clone();
                        // Every one with validation on (each is a bug); the first 20 without.
                        if opts.validate || panics_after <= 20 {
                            println!(
                                "PANIC {}: {label}\n    {}",
                                if opts.validate { "after validation" } else { "(validation bypassed)" },
                                message.replace('\n', "\n    ")
                            );
                            println!("    reproduce: fuzz --seed {seed} --count {}", n + 1);
                        }
                        if let Some(dir) = &opts.save {
                            let path = format!("{dir}/panic-{n}.arrows");
                            match std::fs::create_dir_all(dir).and_then(|_| std::fs::write(&path, &bytes)) {
                                Ok(()) => {
                                    if opts.validate || panics_after <= 20 {
                                        println!("    saved: {path}");
                                    }
                                }
                                Err(e) => println!("    cannot save {path}: {e}"),
                            }
                        }
                        if panic_labels.len() < 20 {
                            panic_labels.push(label.clone());
                        }
                    }
                    Ok(Err(_)) => arrow_rejected_after += 1,
                    Ok(Ok(decoded)) => {
                        accepted += 1;
                        if decoded == originals[which] {
                            accepted_same += 1;
                        } else {
                            let key = kinds_here.last().copied().unwrap_or("?");
                            *accepted_different.entry(key).or_default() += 1;
                        }
                    }
                }
            }
            Err(reason) => {
                rejected += 1;
                let key: String = reason
                    .split(": ")
                    .last()
                    .unwrap_or("")
                    .chars()
                    .map(|c| if c.is_ascii_digit() { '#' } else { c })
                    .collect::<String>()
                    .split("##")
                    .collect::<Vec<_>>()
                    .join("#");
                let key: String = key.replace('\n', " ").replace('\t', "").chars().take(90).collect();
                *reasons.entry(key.clone()).or_default() += 1;
                if opts.validate && arrow_safe_to_try(&bytes) {
                    match panic::catch_unwind(AssertUnwindSafe(|| decode(&bytes))) {
                        Err(_) => {
                            rejected_arrow_panics += 1;
                            let msg = last_panic.lock().unwrap_or_else(|e| e.into_inner()).clone();
                            let short: String = msg.split(":\n").nth(1).unwrap_or(&msg).chars().take(90).collect();
                            *prevented.entry(short).or_default() += 1;
                        }
                        Ok(Ok(_)) => {
                            rejected_arrow_ok += 1;
                            *ok_reasons.entry(key.clone()).or_default() += 1;
                            let filter = std::env::var("EXAMPLES").unwrap_or_default();
                            if examples_ok_by_arrow.len() < 12 && reason.contains(filter.as_str()) {
                                examples_ok_by_arrow.push(format!("{label}\n      -> {reason}"));
                            }
                        }
                        Ok(Err(_)) => rejected_arrow_err += 1,
                    }
                } else {
                    rejected_not_tried += 1;
                }
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let accepted_all = accepted + arrow_rejected_after + panics_after;
    println!("\n== {done} inputs in {secs:.1} s ({:.0}/s), seed {seed}", done as f64 / secs.max(1e-9));
    if !opts.validate {
        println!("(--no-validate: \"accepted\" = decoded without validation; \"rejected\" = left out, they would abort the process)");
    }
    println!("accepted by validator:            {accepted_all}");
    println!(
        "  arrow decoded them:             {accepted} (identical to the base {accepted_same}, different {})",
        accepted - accepted_same
    );
    println!("  arrow rejected them:            {arrow_rejected_after}");
    println!("  PANICKED in arrow:              {panics_after}");
    println!("rejected by validator:            {rejected}");
    println!("  arrow would have panicked:      {rejected_arrow_panics}");
    println!("  arrow would have errored:       {rejected_arrow_err}");
    println!("  arrow would have accepted:      {rejected_arrow_ok}");
    println!("  arrow not tried (huge alloc):   {rejected_not_tried}");
    println!(
        "worst decoder peak allocation / input size (accepted): {:.1}x ({} bytes for {} input bytes) {}",
        worst_ratio.0, worst_ratio.2, worst_ratio.3, worst_ratio.1
    );
    println!(
        "  inputs without an LZ4 frame: {:.1}x ({} bytes for {} input bytes) {}",
        worst_plain.0, worst_plain.2, worst_plain.3, worst_plain.1
    );
    println!("largest single allocation while decoding an accepted input: {largest_accepted} bytes; worst peak beyond 2x input: {worst_excess} bytes");
    println!(
        "accepted inputs where an edge value (-1, 2^31.., 2^32.., i64::MIN/MAX) was written: {big_values_accepted}"
    );
    for e in &big_examples {
        println!("    {e}");
    }
    println!("\nmutation kinds applied: {kinds:?}");
    println!("accepted with different data, by last mutation kind: {accepted_different:?}");
    let top = |title: &str, map: BTreeMap<String, u64>, n: usize| {
        if map.is_empty() {
            return;
        }
        println!("\n{title}");
        let mut rows: Vec<_> = map.into_iter().collect();
        rows.sort_by_key(|e| std::cmp::Reverse(e.1));
        for (msg, count) in rows.iter().take(n) {
            println!("  {count:6}  {msg}");
        }
    };
    top("panics prevented (arrow-rs panic messages on inputs the validator rejected):", prevented, 15);
    top("top rejection reasons:", reasons, 25);
    top("reasons for rejecting inputs that arrow-rs reads:", ok_reasons, 30);
    if !examples_ok_by_arrow.is_empty() {
        println!("\nexamples rejected by the validator that arrow-rs reads:");
        for e in &examples_ok_by_arrow {
            println!("  {e}");
        }
    }
    let _ = KINDS;
    if panics_after > 0 {
        println!("\nFAILED: {panics_after} input(s) panicked the decoder after validation, first ones:");
        for l in &panic_labels {
            println!("  {l}");
        }
        println!(
            "  reproduce one: fuzz --seed {seed} --count N+1 (N: the input's #number){}",
            if opts.save.is_some() { "; the inputs are saved as panic-N.arrows" } else { "; --save DIR writes them" }
        );
    }
    println!(
        "ipc-guard fuzz: {done} inputs, {accepted_all} accepted, {rejected} rejected, {panics_after} panics after validation, {secs:.1} s, seed {seed}{}",
        if opts.validate { "" } else { ", validation bypassed" }
    );
    if panics_after > 0 {
        std::process::exit(1);
    }
}
