//! The document style (docs/udf-abi.md section 4): arguments read from a host document through
//! the `wasmqe_doc` imports, the result written in a 16-byte cell.
//!
//! [`Document`] is also the hand-written API: a function declared with a `doc: &Document`
//! parameter (document style only) may read any field, e.g. `doc.get_str("user.name")`.

use crate::sys::{self, Getter};
use crate::types::{ArgError, ArgMeta, FieldError, FieldErrorKind, OutValue, Outcome, Ret, SqlType, Timestamp};
use std::cell::RefCell;

/// The host's document for one call. Strings and bytes read from it are owned by the guest and
/// freed when the `Document` is dropped (at the end of the call), so they can be borrowed.
pub struct Document {
    handle: i32,
    /// (address, length) of the buffers the host allocated for `get_string` / `get_bytes`
    owned: RefCell<Vec<(u32, u32)>>,
}

impl Document {
    /// Wraps the `doc` handle of a `name__doc` call.
    pub fn from_handle(handle: i32) -> Self {
        Document { handle, owned: RefCell::new(Vec::new()) }
    }

    pub fn handle(&self) -> i32 {
        self.handle
    }

    /// True when the field is present and not null. A field path is a name; a dot selects a
    /// nested field.
    pub fn has(&self, field: &str) -> bool {
        match sys::doc_has_field(self.handle, field.as_bytes()) {
            1 => true,
            0 => false,
            _ => sys::trap(), // a bad handle: the host broke the ABI
        }
    }

    #[inline(always)]
    fn get_raw(&self, which: Getter, field: &str, expected: SqlType) -> Result<Option<u64>, FieldError> {
        let mut out = 0u64;
        match sys::doc_get(which, self.handle, field.as_bytes(), &mut out) {
            0 => Ok(Some(out)),
            1 => Ok(None),
            2 => Err(FieldError::new(FieldErrorKind::WrongType, expected)),
            // 3: the host could not allocate in our memory; -1: a bad handle; else: not the ABI
            _ => sys::trap(),
        }
    }

    /// An integer (or timestamp) field; `Ok(None)` when it is absent or null.
    pub fn get_i64(&self, field: &str) -> Result<Option<i64>, FieldError> {
        Ok(self.get_raw(Getter::I64, field, SqlType::I64)?.map(|v| v as i64))
    }

    /// An integer field that must fit an `i32`.
    pub fn get_i32(&self, field: &str) -> Result<Option<i32>, FieldError> {
        match self.get_raw(Getter::I64, field, SqlType::I32)? {
            None => Ok(None),
            Some(v) => match i32::try_from(v as i64) {
                Ok(v) => Ok(Some(v)),
                Err(_) => Err(FieldError::new(FieldErrorKind::OutOfRange, SqlType::I32)),
            },
        }
    }

    /// A timestamp (or integer) field, microseconds since the epoch.
    pub fn get_timestamp(&self, field: &str) -> Result<Option<Timestamp>, FieldError> {
        Ok(self.get_raw(Getter::I64, field, SqlType::Timestamp)?.map(|v| Timestamp(v as i64)))
    }

    /// A float (or integer) field.
    pub fn get_f64(&self, field: &str) -> Result<Option<f64>, FieldError> {
        Ok(self.get_raw(Getter::F64, field, SqlType::F64)?.map(f64::from_bits))
    }

    /// A float (or integer) field, rounded to `f32`.
    pub fn get_f32(&self, field: &str) -> Result<Option<f32>, FieldError> {
        Ok(self.get_raw(Getter::F64, field, SqlType::F32)?.map(|v| f64::from_bits(v) as f32))
    }

    pub fn get_bool(&self, field: &str) -> Result<Option<bool>, FieldError> {
        Ok(self.get_raw(Getter::Bool, field, SqlType::Bool)?.map(|v| v as u32 != 0))
    }

    /// The bytes of a string or bytes field, borrowed until the end of the call.
    fn get_buf(&self, which: Getter, field: &str, expected: SqlType) -> Result<Option<&[u8]>, FieldError> {
        let Some(cell) = self.get_raw(which, field, expected)? else { return Ok(None) };
        let (addr, len) = (cell as u32, (cell >> 32) as u32);
        self.owned.borrow_mut().push((addr, len));
        if len == 0 {
            return Ok(Some(&[]));
        }
        // SAFETY: the host wrote `len` bytes at `addr`, which we own until `self` is dropped
        // (the Vec of owned buffers only grows until then).
        Ok(Some(unsafe { core::slice::from_raw_parts(sys::ptr(addr), len as usize) }))
    }

    /// A string field (UTF-8 checked), borrowed until the end of the call.
    pub fn get_str(&self, field: &str) -> Result<Option<&str>, FieldError> {
        match self.get_buf(Getter::String, field, SqlType::String)? {
            None => Ok(None),
            Some(b) => match core::str::from_utf8(b) {
                Ok(s) => Ok(Some(s)),
                Err(_) => Err(FieldError::new(FieldErrorKind::NotUtf8, SqlType::String)),
            },
        }
    }

    /// A bytes field, borrowed until the end of the call.
    pub fn get_bytes(&self, field: &str) -> Result<Option<&[u8]>, FieldError> {
        self.get_buf(Getter::Bytes, field, SqlType::Bytes)
    }
}

impl Drop for Document {
    fn drop(&mut self) {
        for &(addr, len) in self.owned.get_mut().iter() {
            // SAFETY: the host allocated it with wasmqe_alloc(len, 1) and gave it to us.
            unsafe { sys::dealloc(addr, len as usize, 1) };
        }
    }
}

/// An argument type of the document style.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an argument of a document-style function",
    note = "arguments are bool, i32, i64, f32, f64, Timestamp, &str or &[u8], optionally in Option<_>, or &Document"
)]
pub trait DocArg<'a>: Sized {
    /// `Ok(None)`: NULL for a strict argument (the result is NULL without a call).
    fn from_doc(doc: &'a Document, name: &'static str) -> Result<Option<Self>, ArgError>;
}

macro_rules! doc_args {
    ($($t:ty => $get:ident),* $(,)?) => {$(
        impl<'a> DocArg<'a> for $t {
            #[inline]
            fn from_doc(doc: &'a Document, name: &'static str) -> Result<Option<Self>, ArgError> {
                doc.$get(name).map_err(|error| ArgError { arg: name, error })
            }
        }
        impl<'a> DocArg<'a> for Option<$t> {
            #[inline]
            fn from_doc(doc: &'a Document, name: &'static str) -> Result<Option<Self>, ArgError> {
                doc.$get(name).map(Some).map_err(|error| ArgError { arg: name, error })
            }
        }
    )*};
}
doc_args!(
    bool => get_bool,
    i32 => get_i32,
    i64 => get_i64,
    f32 => get_f32,
    f64 => get_f64,
    Timestamp => get_timestamp,
    &'a str => get_str,
    &'a [u8] => get_bytes,
);

impl ArgMeta for &Document {
    const TYPE: &'static str = "";
    const NULLABLE: bool = false;
    const LISTED: bool = false;
}

impl<'a> DocArg<'a> for &'a Document {
    #[inline]
    fn from_doc(doc: &'a Document, _name: &'static str) -> Result<Option<Self>, ArgError> {
        Ok(Some(doc))
    }
}

/// Allocates `len` bytes with `wasmqe_alloc(len, 1)` and fills them from `pieces`; traps when
/// memory is exhausted (the document style has no status for it).
fn alloc_joined(pieces: &[&[u8]]) -> (u32, u32) {
    let len: usize = pieces.iter().map(|p| p.len()).sum();
    let addr = sys::alloc(len, 1);
    if addr == 0 {
        sys::trap();
    }
    let mut at = 0;
    for p in pieces {
        // SAFETY: `addr` has `len` bytes, the pieces add up to `len`.
        unsafe { core::ptr::copy_nonoverlapping(p.as_ptr(), sys::ptr(addr).add(at), p.len()) };
        at += p.len();
    }
    (addr, len as u32)
}

/// Writes `ptr, len` of a fresh copy of `bytes` in the cell.
///
/// # Safety
/// `cell` is a writable result cell.
pub(crate) unsafe fn write_buf_cell(cell: *mut u8, pieces: &[&[u8]]) {
    let (addr, len) = alloc_joined(pieces);
    core::ptr::write_unaligned(cell as *mut u32, addr.to_le());
    core::ptr::write_unaligned(cell.add(4) as *mut u32, len.to_le());
}

/// The body of a `name__doc` export: reads the arguments with `f`, writes the outcome in the cell
/// at `out` and returns the status (0 value, 1 NULL, 2 row error).
#[doc(hidden)]
pub fn run<R: Ret>(doc: i32, out: i32, f: impl for<'d> FnOnce(&'d Document) -> Outcome<R::Value>) -> i32 {
    let document = Document::from_handle(doc);
    let outcome = f(&document);
    drop(document); // the arguments' buffers, before the result's allocation
    let cell = sys::ptr(out as u32);
    match outcome {
        // SAFETY: the host gave us a 16-byte result cell at `out`.
        Outcome::Value(v) => unsafe {
            v.write_cell(cell);
            0
        },
        Outcome::Null => 1,
        Outcome::Arg(e) => unsafe {
            let p = e.pieces();
            write_buf_cell(
                cell,
                &[p[0].as_bytes(), p[1].as_bytes(), p[2].as_bytes(), p[3].as_bytes(), p[4].as_bytes(), p[5].as_bytes()],
            );
            2
        },
        Outcome::Error(message) => unsafe {
            write_buf_cell(cell, &[message.as_bytes()]);
            2
        },
    }
}
