//! Results through the Arrow C Data Interface (issue 17, item 2): one `ArrowSchema` for the
//! result's columns (a struct) and one `ArrowArray` per batch (a struct array, one child per
//! column), in the module's own memory. js/ffi_reader.js reads them into apache-arrow JS tables
//! without the IPC encode and decode: with `copy` it copies each buffer out once; without, its
//! vectors view the module's memory directly until the export is released or the memory grows.
//!
//! The batches are the ones `execute_sql` would encode, view types cast the same way (apache-arrow
//! JS 21 reads no view types), so both paths give the same table.

use arrow::array::{Array, RecordBatch, StructArray};
use arrow::datatypes::SchemaRef;
use arrow::ffi::{FFI_ArrowArray, FFI_ArrowSchema};

/// An exported result (C structs may move; the reader takes their addresses once this is in
/// place, behind wasm-bindgen's handle). Dropping it calls each struct's
/// release callback, which drops the buffers it kept alive (unless the engine's tables hold them).
pub struct FfiExport {
    schema: FFI_ArrowSchema,
    arrays: Vec<FFI_ArrowArray>,
    rows: usize,
}

impl FfiExport {
    pub fn new(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Self, String> {
        let exported_schema =
            FFI_ArrowSchema::try_from(schema.as_ref()).map_err(|e| format!("exporting the result's schema: {e}"))?;
        let arrays = batches
            .iter()
            .map(|batch| {
                let data = StructArray::from(batch.clone()).into_data();
                FFI_ArrowArray::new(&data)
            })
            .collect();
        Ok(FfiExport { schema: exported_schema, arrays, rows: batches.iter().map(|b| b.num_rows()).sum() })
    }

    /// The address of the `ArrowSchema` (format "+s", one child per column).
    pub fn schema_address(&self) -> usize {
        &self.schema as *const FFI_ArrowSchema as usize
    }

    /// The address of batch `index`'s `ArrowArray`, if there is such a batch.
    pub fn array_address(&self, index: usize) -> Option<usize> {
        self.arrays.get(index).map(|array| array as *const FFI_ArrowArray as usize)
    }

    pub fn batch_count(&self) -> usize {
        self.arrays.len()
    }

    pub fn num_rows(&self) -> usize {
        self.rows
    }
}
