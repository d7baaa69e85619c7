//! Built-in functions the engine adds to DataFusion's (issue 17, item 3): JSON, properties and
//! histograms, the same code natively and in wasm. Documented in docs/functions.md.

use std::sync::Arc;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};

/// The scalar functions to register in every session.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    Vec::new()
}

/// The aggregate functions to register in every session.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    Vec::new()
}
