//! Rust-side tests in headless Chromium: `nox -s wasm_test` runs them through
//! wasm-bindgen-test-runner (the same version as the wasm-bindgen CLI) and Debian's chromedriver.
//! They exercise what only a browser has: the JS clock and crypto behind now(), random() and
//! uuid(), promises from the async API, and the module's own memory.
#![cfg(target_arch = "wasm32")]

use std::io::Cursor;
use std::sync::Arc;

use arrow::array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use datafusion_wasm::engine::Engine;
use datafusion_wasm::WasmQueryEngine;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn sample_ipc() -> Vec<u8> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("city", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
            Arc::new(StringArray::from(vec![Some("Zürich"), Some("東京"), Some("Zürich"), None])),
            Arc::new(Float64Array::from(vec![Some(1.5), None, Some(2.5), Some(4.0)])),
        ],
    )
    .unwrap();
    let mut bytes = Vec::new();
    let mut writer = StreamWriter::try_new(&mut bytes, &schema).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    drop(writer);
    bytes
}

fn decode(bytes: &[u8]) -> Vec<RecordBatch> {
    StreamReader::try_new(Cursor::new(bytes), None).unwrap().collect::<Result<_, _>>().unwrap()
}

fn engine_with_t() -> Engine {
    let engine = Engine::new();
    assert_eq!(engine.register_table("t", &sample_ipc()).unwrap(), 4);
    engine
}

#[wasm_bindgen_test]
fn grouped_aggregate_over_non_ascii_text() {
    let engine = engine_with_t();
    let out = decode(
        &engine.execute_sql("SELECT city, sum(amount) AS total FROM t GROUP BY city ORDER BY city NULLS LAST").unwrap(),
    );
    let batch = &out[0];
    let cities = batch.column(0).as_any().downcast_ref::<StringArray>().expect("Utf8 for JS, not Utf8View");
    assert_eq!(cities.iter().collect::<Vec<_>>(), vec![Some("Zürich"), Some("東京"), None]);
    let totals = batch.column(1).as_any().downcast_ref::<Float64Array>().unwrap();
    assert_eq!(totals.value(0), 4.0);
    assert!(totals.is_null(1));
}

#[wasm_bindgen_test]
fn now_random_and_uuid_use_the_browser_not_std_stubs() {
    let engine = Engine::new();
    let out = decode(&engine.execute_sql("SELECT now() AS t, random() AS r, uuid() AS u").unwrap());
    let batch = &out[0];
    assert_eq!(batch.num_rows(), 1);
    let now_ns = batch.column(0).as_any().downcast_ref::<arrow::array::TimestampNanosecondArray>().unwrap().value(0);
    let js_ms = js_sys::Date::now();
    assert!(((now_ns / 1_000_000) as f64 - js_ms).abs() < 60_000.0, "now() is the JS clock");
    let r = batch.column(1).as_any().downcast_ref::<Float64Array>().unwrap().value(0);
    assert!((0.0..1.0).contains(&r));
    let u = batch.column(2).as_any().downcast_ref::<StringArray>().unwrap().value(0).to_string();
    assert_eq!(u.len(), 36);
    assert_eq!(&u[14..15], "4", "a v4 uuid");
}

#[wasm_bindgen_test]
fn explain_analyze_runs_inside_the_engine_runtime() {
    let engine = engine_with_t();
    let out = decode(&engine.execute_sql("EXPLAIN ANALYZE SELECT count(*) FROM t").unwrap());
    let plans = out[0].column(1).as_any().downcast_ref::<StringArray>().unwrap();
    assert!(plans.iter().flatten().any(|plan| plan.contains("output_rows")));
}

#[wasm_bindgen_test]
fn errors_leave_the_engine_and_its_tables_usable() {
    let engine = engine_with_t();
    let error = engine.execute_sql("SELEC nope").unwrap_err().to_string();
    assert!(error.contains("SQL failed"), "{error}");
    assert!(engine.register_table("t", b"not arrow").is_err());
    assert!(engine.execute_sql("SELECT * FROM missing").is_err());
    let out = decode(&engine.execute_sql("SELECT count(*) FROM t").unwrap());
    assert_eq!(out[0].column(0).as_any().downcast_ref::<Int64Array>().unwrap().value(0), 4);
}

/// The JS API's promises: settled when returned (the work runs synchronously, so a trap throws at
/// the call instead of leaving a promise pending), resolving to IPC bytes.
async fn ipc_of(promise: js_sys::Promise) -> Vec<u8> {
    let value = wasm_bindgen_futures::JsFuture::from(promise).await.expect("the promise resolves");
    js_sys::Uint8Array::new(&value).to_vec()
}

#[wasm_bindgen_test]
async fn the_js_api_returns_promises_that_resolve_to_ipc() {
    let engine = WasmQueryEngine::new().unwrap();
    engine.register_table("t", &sample_ipc()).unwrap();
    let bytes = ipc_of(engine.execute_sql("SELECT count(*) AS n FROM t".into())).await;
    assert_eq!(decode(&bytes)[0].num_rows(), 1);
    let derived = ipc_of(engine.execute_and_register("SELECT id FROM t WHERE id > 2".into(), "u".into())).await;
    assert_eq!(decode(&derived)[0].num_rows(), 2);
    assert_eq!(engine.table_names().unwrap(), vec!["t".to_string(), "u".to_string()]);
    assert!(WasmQueryEngine::is_usable());
}
