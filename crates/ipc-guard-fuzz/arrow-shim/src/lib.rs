//! The subset of the `arrow` crate's public paths that ipc_guard.rs and the fuzzer use,
//! re-exported exactly as arrow 59 does (arrow/src/lib.rs, array/mod.rs, datatypes/mod.rs).
pub use arrow_buffer::{alloc, buffer};
pub use arrow_ipc as ipc;
pub mod array {
    pub use arrow_array::builder::*;
    pub use arrow_array::cast::*;
    pub use arrow_array::iterator::*;
    pub use arrow_array::*;
    pub use arrow_data::{
        layout, ArrayData, ArrayDataBuilder, ArrayDataRef, BufferSpec, ByteView, DataTypeLayout, MAX_INLINE_VIEW_LEN,
    };
}
pub mod datatypes {
    pub use arrow_array::types::*;
    pub use arrow_array::{ArrowNativeTypeOp, ArrowNumericType, ArrowPrimitiveType};
    pub use arrow_buffer::{i256, ArrowNativeType, ToByteSlice};
    pub use arrow_data::decimal::*;
    pub use arrow_schema::{
        DataType, Field, FieldRef, Fields, IntervalUnit, Schema, SchemaBuilder, SchemaRef, TimeUnit, UnionFields,
        UnionMode,
    };
}
pub mod error {
    pub use arrow_schema::ArrowError;
    pub type Result<T> = std::result::Result<T, ArrowError>;
}
pub mod record_batch {
    pub use arrow_array::{RecordBatch, RecordBatchIterator, RecordBatchOptions, RecordBatchReader, RecordBatchWriter};
}
