//! The SDK against the ABI, natively: manifest lines, the batch layout (decoding the host's
//! columns, encoding the result and errors), UTF-8 handling, strictness, ownership of buffers.

use wasm_qe_udf::testing::{
    call_batch, call_batch_with, call_doc, fail_allocations_after, live_allocations, Column, MockDoc,
};
use wasm_qe_udf::{manifest, Document, Timestamp};

wasm_qe_udf::udf! {
    /// Every fixed-width type, strict.
    #[styles(scalar, document, batch)]
    fn t_fixed(b: bool, i: i32, l: i64, f: f32, d: f64, t: Timestamp) -> f64 {
        (b as i64 as f64) + i as f64 + l as f64 + f as f64 + d + t.0 as f64
    }

    #[styles(document, batch)]
    #[deterministic(false)]
    fn t_nullable(s: Option<&str>, n: Option<i64>) -> Option<String> {
        match (s, n) {
            (None, None) => None,
            (s, n) => Some(format!("{}|{}", s.unwrap_or("-"), n.map_or("-".to_string(), |n| n.to_string()))),
        }
    }

    #[styles(document, batch)]
    fn t_fallible(s: &str) -> Result<Option<Vec<u8>>, String> {
        match s {
            "err" => Err("bad row".to_string()),
            "null" => Ok(None),
            s => Ok(Some(s.bytes().rev().collect())),
        }
    }

    #[styles(batch, document)]
    fn t_bool(a: bool, b: Option<bool>) -> bool {
        a ^ b.unwrap_or(false)
    }

    #[styles(document)]
    fn t_doc(doc: &Document, k: i32) -> Result<f32, wasm_qe_udf::FieldError> {
        Ok(doc.get_f32("x.y")?.unwrap_or(0.5) + k as f32 + doc.get_bytes("raw")?.map_or(0, |b| b.len()) as f32)
    }

    #[styles(scalar)]
    fn t_zero_args() -> i32 {
        7
    }

    #[styles(batch)]
    fn t_ts(t: Timestamp) -> Timestamp {
        Timestamp(t.0 * 2)
    }
}

fn line(m: &[u8]) -> &str {
    std::str::from_utf8(m).unwrap()
}

#[test]
fn manifest_lines() {
    assert_eq!(
        line(&t_fixed::MANIFEST),
        concat!(
            r#"{"abi":"1.0","name":"t_fixed","args":[{"name":"b","type":"bool","nullable":false},"#,
            r#"{"name":"i","type":"i32","nullable":false},{"name":"l","type":"i64","nullable":false},"#,
            r#"{"name":"f","type":"f32","nullable":false},{"name":"d","type":"f64","nullable":false},"#,
            r#"{"name":"t","type":"timestamp","nullable":false}],"returns":{"type":"f64","nullable":false},"#,
            r#""fallible":false,"deterministic":true,"styles":["scalar","document","batch"]}"#,
            "\n"
        )
    );
    assert_eq!(
        line(&t_nullable::MANIFEST),
        concat!(
            r#"{"abi":"1.0","name":"t_nullable","args":[{"name":"s","type":"string","nullable":true},"#,
            r#"{"name":"n","type":"i64","nullable":true}],"returns":{"type":"string","nullable":true},"#,
            r#""fallible":false,"deterministic":false,"styles":["document","batch"]}"#,
            "\n"
        )
    );
    assert!(line(&t_fallible::MANIFEST).contains(r#""returns":{"type":"bytes","nullable":true},"fallible":true"#));
    // a &Document parameter is not an argument of the manifest
    assert!(line(&t_doc::MANIFEST)
        .contains(r#""args":[{"name":"k","type":"i32","nullable":false}],"returns":{"type":"f32""#));
    assert!(line(&t_zero_args::MANIFEST).contains(r#""args":[],"#));
    assert!(line(&t_ts::MANIFEST).contains(r#""returns":{"type":"timestamp","nullable":false}"#));
    for m in [&t_fixed::MANIFEST[..], &t_nullable::MANIFEST, &t_fallible::MANIFEST, &t_bool::MANIFEST, &t_doc::MANIFEST]
    {
        assert_eq!(m.iter().filter(|b| **b == b'\n').count(), 1);
        assert!(m.ends_with(b"}\n"));
    }
}

#[test]
fn names_are_checked() {
    assert!(manifest::valid_name("a_b9"));
    assert!(manifest::valid_name("_x"));
    for bad in ["", "9a", "A", "a-b", "r#type", &"a".repeat(65)] {
        assert!(!manifest::valid_name(bad), "{bad}");
    }
    assert!(manifest::valid_name(&"a".repeat(64)));
}

#[test]
fn scalar_style() {
    assert_eq!(t_fixed::scalar(1, 2, 3, 0.5, 0.25, 10), 16.75);
    assert_eq!(t_zero_args::scalar(), 7);
}

#[test]
fn batch_fixed_width_columns_and_strictness() {
    let r = call_batch(
        t_fixed::batch,
        3,
        &[
            Column::bools(&[Some(true), Some(false), Some(true)]),
            Column::i32s(&[Some(-2), Some(3), Some(1)]),
            Column::i64s(&[Some(1 << 40), Some(4), Some(1)]),
            Column::f32s(&[Some(0.5), Some(0.5), Some(1.0)]),
            Column::f64s(&[Some(0.25), Some(0.25), None]),
            Column::timestamps(&[Some(-1), Some(0), Some(1)]),
        ],
    );
    assert_eq!(r.f64s(), vec![Some(1.0 - 2.0 + (1u64 << 40) as f64 + 0.5 + 0.25 - 1.0), Some(7.75), None]);
    assert_eq!(r.errors, vec![None, None, None]);
    assert_eq!(live_allocations(), 0);
}

#[test]
fn batch_nullable_arguments_are_passed() {
    let r = call_batch(
        t_nullable::batch,
        4,
        &[Column::strs(&[Some("a"), None, None, Some("")]), Column::i64s(&[None, Some(5), None, Some(-1)])],
    );
    assert_eq!(r.strings(), vec![Some("a|-".into()), Some("-|5".into()), None, Some("|-1".into())]);
    assert_eq!(live_allocations(), 0);
}

#[test]
fn batch_errors_interleave_with_values() {
    let rows = ["ab", "err", "null", "", "err", "xyz", "err"];
    let col: Vec<Option<&str>> = rows.iter().map(|s| Some(*s)).collect();
    let r = call_batch(t_fallible::batch, rows.len(), &[Column::strs(&col)]);
    assert_eq!(
        r.byte_values(),
        vec![Some(b"ba".to_vec()), None, None, Some(vec![]), None, Some(b"zyx".to_vec()), None]
    );
    let bad = Some("bad row".to_string());
    assert_eq!(r.errors, vec![None, bad.clone(), None, None, bad.clone(), None, bad]);
    assert_eq!(live_allocations(), 0);
}

#[test]
fn batch_string_that_is_not_utf8_is_a_row_error() {
    let r = call_batch(t_fallible::batch, 3, &[Column::str_bytes(&[Some(b"ok"), Some(b"\xff\xfe"), None])]);
    assert_eq!(r.byte_values(), vec![Some(b"ko".to_vec()), None, None]);
    assert_eq!(r.errors[1].as_deref(), Some("argument `s`: the value is not valid UTF-8"));
    assert_eq!(r.errors[2], None); // NULL in a strict argument: NULL out, no error
                                   // multi-byte UTF-8 is kept whole
    let r = call_batch(t_fallible::batch, 1, &[Column::strs(&[Some("é🙂")])]);
    assert_eq!(r.byte_values(), vec![Some("é🙂".bytes().rev().collect())]);
    assert_eq!(live_allocations(), 0);
}

#[test]
fn batch_bools_are_bitmaps() {
    let a: Vec<Option<bool>> = (0..19).map(|i| Some(i % 3 == 0)).collect();
    let b: Vec<Option<bool>> = (0..19).map(|i| if i % 4 == 0 { None } else { Some(i % 2 == 0) }).collect();
    let r = call_batch(t_bool::batch, 19, &[Column::bools(&a), Column::bools(&b)]);
    let expected: Vec<Option<bool>> = (0..19).map(|i| Some(a[i].unwrap() ^ b[i].unwrap_or(false))).collect();
    assert_eq!(r.bools(), expected);
    assert_eq!(live_allocations(), 0);
}

#[test]
fn batch_zero_rows() {
    let r = call_batch(t_fallible::batch, 0, &[Column::strs(&[])]);
    assert_eq!((r.status, r.values.len()), (0, 0));
    let r = call_batch(t_ts::batch, 0, &[Column::timestamps(&[])]);
    assert_eq!(r.status, 0);
    assert_eq!(live_allocations(), 0);
}

#[test]
fn batch_timestamps() {
    let r = call_batch(t_ts::batch, 2, &[Column::timestamps(&[Some(-5), Some(1 << 50)])]);
    assert_eq!(r.timestamps(), vec![Some(-10), Some(1 << 51)]);
}

#[test]
fn batch_descriptor_mismatches_are_status_1() {
    // a wrong column type
    let r = call_batch(t_ts::batch, 1, &[Column::i64s(&[Some(1)])]);
    assert_eq!(r.status, 1);
    // a wrong number of arguments
    let r = call_batch(t_ts::batch, 1, &[Column::timestamps(&[Some(1)]), Column::timestamps(&[Some(1)])]);
    assert_eq!(r.status, 1);
    // fewer values than rows
    let r = call_batch(t_ts::batch, 3, &[Column::timestamps(&[Some(1), Some(2)])]);
    assert_eq!(r.status, 1);
    // offsets: not starting at 0, decreasing, past values_len
    for offsets in [vec![1, 2], vec![0, 3, 2], vec![0, 9]] {
        let rows = offsets.len() - 1;
        let col = Column { ty: 6, validity: None, offsets: Some(offsets.clone()), values: b"abc".to_vec() };
        let r = call_batch(t_fallible::batch, rows, &[col]);
        assert_eq!(r.status, 1, "{offsets:?}");
    }
    // an ABI major other than 1
    let r = call_batch_with(t_ts::batch, 1, &[Column::timestamps(&[Some(1)])], |desc| unsafe {
        *(wasm_qe_udf::testing::guest_ptr(desc)) = 2;
    });
    assert_eq!(r.status, 1);
    assert_eq!(live_allocations(), 0);
}

#[test]
fn batch_out_of_memory_is_status_2_and_frees_everything() {
    for n in 0..6 {
        let col = Column::strs(&[Some("a"), Some("err"), Some("b")]);
        // the host's buffers: descriptor, offsets, values (3 allocations), then the guest's
        fail_allocations_after(Some(3 + n));
        let r = call_batch(t_fallible::batch, 3, &[col]);
        fail_allocations_after(None);
        if r.status == 0 {
            assert!(n >= 4, "succeeded with only {n} allocations");
            break;
        }
        assert_eq!(r.status, 2, "after {n} allocations");
        assert_eq!(live_allocations(), 0, "after {n} allocations");
    }
    assert_eq!(live_allocations(), 0);
}

#[test]
fn document_style_reads_fields_and_frees_strings() {
    let d =
        MockDoc::new().boolean("b", true).int("i", 2).int("l", 3).float("f", 0.5).float("d", 0.25).timestamp("t", 10);
    assert_eq!(call_doc(t_fixed::document, &d).f64(), 16.75);
    // get_f64 accepts integers; get_i64 accepts timestamps
    let d = MockDoc::new().boolean("b", false).int("i", 2).int("l", 3).int("f", 1).int("d", 1).int("t", 10);
    assert_eq!(call_doc(t_fixed::document, &d).f64(), 17.0);
    // strict: a missing or null field gives NULL (status 1)
    let d = MockDoc::new().boolean("b", true).int("i", 2).int("l", 3).float("f", 0.5).null("d").timestamp("t", 10);
    assert_eq!(call_doc(t_fixed::document, &d).status, 1);
    // nullable arguments
    assert_eq!(call_doc(t_nullable::document, &MockDoc::new()).status, 1);
    assert_eq!(call_doc(t_nullable::document, &MockDoc::new().string("s", "é")).take_string(), "é|-");
    assert_eq!(call_doc(t_fallible::document, &MockDoc::new().string("s", "abc")).take_bytes(), b"cba");
    assert_eq!(call_doc(t_fallible::document, &MockDoc::new().string("s", "null")).status, 1);
    assert_eq!(call_doc(t_fallible::document, &MockDoc::new().string("s", "err")).take_error(), "bad row");
    assert!(call_doc(t_bool::document, &MockDoc::new().boolean("a", true)).bool());
    assert!(!call_doc(t_bool::document, &MockDoc::new().boolean("a", true).boolean("b", true)).bool());
    assert_eq!(live_allocations(), 0);
}

#[test]
fn document_style_argument_errors_are_row_errors() {
    let e = call_doc(t_fallible::document, &MockDoc::new().int("s", 1)).take_error();
    assert_eq!(e, "argument `s`: the field has another type (expected string)");
    let e = call_doc(t_fallible::document, &MockDoc::new().string_bytes("s", b"\xc3")).take_error();
    assert_eq!(e, "argument `s`: the value is not valid UTF-8");
    let d = MockDoc::new()
        .boolean("b", true)
        .int("i", 1 << 31)
        .int("l", 3)
        .float("f", 0.5)
        .float("d", 0.25)
        .timestamp("t", 10);
    assert_eq!(call_doc(t_fixed::document, &d).take_error(), "argument `i`: the value is out of range for i32");
    let d =
        MockDoc::new().boolean("b", true).int("i", 1).int("l", 3).float("f", 0.5).string("d", "x").timestamp("t", 10);
    assert_eq!(call_doc(t_fixed::document, &d).take_error(), "argument `d`: the field has another type (expected f64)");
    assert_eq!(live_allocations(), 0);
}

#[test]
fn hand_written_document_functions() {
    let d = MockDoc::new().int("k", 2).float("x.y", 1.5).bytes("raw", b"abcd");
    assert_eq!(call_doc(t_doc::document, &d).f32(), 7.5);
    assert_eq!(call_doc(t_doc::document, &MockDoc::new().int("k", 2)).f32(), 2.5);
    let e = call_doc(t_doc::document, &MockDoc::new().int("k", 2).string("raw", "s")).take_error();
    assert_eq!(e, "the field has another type (expected bytes)");
    assert_eq!(live_allocations(), 0);
}

#[test]
fn allocator_exports() {
    use wasm_qe_udf::{wasmqe_abi_version, wasmqe_alloc, wasmqe_dealloc};
    assert_eq!(wasmqe_abi_version(), 1);
    assert_eq!(wasmqe_alloc(16, 3), 0); // not a power of two
    assert_eq!(wasmqe_alloc(16, 16), 0); // above 8
    let p = wasmqe_alloc(0, 8);
    assert!(p != 0 && p % 8 == 0);
    unsafe { wasmqe_dealloc(p, 0, 8) };
    let p = wasmqe_alloc(5, 1);
    assert!(p != 0);
    unsafe { wasmqe_dealloc(p, 5, 1) };
    assert_eq!(live_allocations(), 0);
}
