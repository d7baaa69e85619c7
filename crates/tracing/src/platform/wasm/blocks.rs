//! Stubs: on wasm32 nothing is buffered, so no block, stream or property ever exists. These
//! uninhabited types only keep [`crate::EventSink`]'s signature the same as natively; a sink can
//! implement the block and stream methods as `match *block {}`.

/// Never constructed on wasm32.
#[derive(Debug)]
pub enum LogBlock {}
/// Never constructed on wasm32.
#[derive(Debug)]
pub enum LogStream {}
/// Never constructed on wasm32.
#[derive(Debug)]
pub enum MetricsBlock {}
/// Never constructed on wasm32.
#[derive(Debug)]
pub enum MetricsStream {}
/// Never constructed on wasm32.
#[derive(Debug)]
pub enum ThreadBlock {}
/// Never constructed on wasm32.
#[derive(Debug)]
pub enum ThreadStream {}
/// Never constructed on wasm32: `on_log` always receives `&[]`.
#[derive(Debug)]
pub enum Property {}
