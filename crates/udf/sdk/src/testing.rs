//! A simulated host for native tests (not on wasm32): mock documents, batch descriptors built
//! from Rust values, and checks that every buffer crossing the ABI is freed once, with its size
//! and alignment. Each test thread has its own guest memory.
//!
//! ```ignore
//! let r = testing::call_batch(add_one::batch, 3, &[testing::Column::i64s(&[Some(1), None, Some(3)])]);
//! assert_eq!(r.i64s(), vec![Some(2), None, Some(4)]);
//! ```

use crate::batch::bitmap_bytes;
use crate::sys::{self, imp::MockValue};
use crate::SqlType;
use std::cell::Cell;

/// Buffers allocated in guest memory and not freed.
pub fn live_allocations() -> usize {
    sys::imp::ARENA.with(|a| a.borrow().live.len())
}

/// Makes the guest's allocator fail after `n` more successful allocations (`None`: never).
pub fn fail_allocations_after(n: Option<usize>) {
    sys::imp::ARENA.with(|a| a.borrow_mut().fail_after = n);
}

/// The native address of guest address `addr` (to alter a descriptor in a test).
pub fn guest_ptr(addr: u32) -> *mut u8 {
    sys::ptr(addr)
}

fn copy_in(bytes: &[u8], align: usize) -> u32 {
    let addr = sys::alloc(bytes.len(), align);
    assert!(addr != 0, "simulated guest memory exhausted");
    // SAFETY: a fresh allocation of bytes.len() bytes.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), sys::ptr(addr), bytes.len()) };
    addr
}

fn copy_out(addr: u32, len: usize) -> Vec<u8> {
    if len == 0 {
        return Vec::new();
    }
    // SAFETY: inside the simulated memory (sys::ptr checks the address).
    unsafe { std::slice::from_raw_parts(sys::ptr(addr), len).to_vec() }
}

fn read_u32(addr: u32) -> u32 {
    u32::from_le_bytes(copy_out(addr, 4).try_into().unwrap())
}

fn write_u32(addr: u32, v: u32) {
    // SAFETY: inside the simulated memory.
    unsafe { std::ptr::copy_nonoverlapping(v.to_le_bytes().as_ptr(), sys::ptr(addr), 4) };
}

thread_local! {
    static NEXT_DOC: Cell<i32> = const { Cell::new(100) };
}

/// A host document for `name__doc` calls.
#[derive(Default, Clone)]
pub struct MockDoc {
    fields: Vec<(String, MockValue)>,
}

impl MockDoc {
    pub fn new() -> Self {
        Self::default()
    }
    fn with(mut self, name: &str, v: MockValue) -> Self {
        self.fields.push((name.to_string(), v));
        self
    }
    pub fn int(self, name: &str, v: i64) -> Self {
        self.with(name, MockValue::Int(v))
    }
    pub fn timestamp(self, name: &str, micros: i64) -> Self {
        self.with(name, MockValue::Timestamp(micros))
    }
    pub fn float(self, name: &str, v: f64) -> Self {
        self.with(name, MockValue::Float(v))
    }
    pub fn boolean(self, name: &str, v: bool) -> Self {
        self.with(name, MockValue::Bool(v))
    }
    pub fn string(self, name: &str, v: &str) -> Self {
        self.with(name, MockValue::Str(v.as_bytes().to_vec()))
    }
    /// A string field with arbitrary (possibly not UTF-8) bytes.
    pub fn string_bytes(self, name: &str, v: &[u8]) -> Self {
        self.with(name, MockValue::Str(v.to_vec()))
    }
    pub fn bytes(self, name: &str, v: &[u8]) -> Self {
        self.with(name, MockValue::Bytes(v.to_vec()))
    }
    pub fn null(self, name: &str) -> Self {
        self.with(name, MockValue::Null)
    }
}

/// What a `name__doc` call returned.
#[derive(Debug)]
pub struct DocResult {
    pub status: i32,
    pub cell: [u8; 16],
}

impl DocResult {
    pub fn i32(&self) -> i32 {
        assert_eq!(self.status, 0);
        i32::from_le_bytes(self.cell[..4].try_into().unwrap())
    }
    pub fn i64(&self) -> i64 {
        assert_eq!(self.status, 0);
        i64::from_le_bytes(self.cell[..8].try_into().unwrap())
    }
    pub fn f32(&self) -> f32 {
        assert_eq!(self.status, 0);
        f32::from_le_bytes(self.cell[..4].try_into().unwrap())
    }
    pub fn f64(&self) -> f64 {
        assert_eq!(self.status, 0);
        f64::from_le_bytes(self.cell[..8].try_into().unwrap())
    }
    pub fn bool(&self) -> bool {
        match self.i32() {
            0 => false,
            1 => true,
            other => panic!("a bool result of {other}"),
        }
    }
    /// The buffer of a string/bytes value (status 0) or an error (status 2), freed like a host does.
    pub fn take_bytes(&self) -> Vec<u8> {
        assert!(self.status == 0 || self.status == 2, "status {}", self.status);
        let addr = u32::from_le_bytes(self.cell[..4].try_into().unwrap());
        let len = u32::from_le_bytes(self.cell[4..8].try_into().unwrap()) as usize;
        assert!(addr != 0);
        let out = copy_out(addr, len);
        // SAFETY: the guest allocated it with wasmqe_alloc(len, 1) and gave it to us.
        unsafe { crate::wasmqe_dealloc(addr as i32, len as i32, 1) };
        out
    }
    pub fn take_string(&self) -> String {
        String::from_utf8(self.take_bytes()).expect("a UTF-8 string")
    }
    /// The row error's message (status 2).
    pub fn take_error(&self) -> String {
        assert_eq!(self.status, 2, "not a row error");
        self.take_string()
    }
}

/// Calls a `name__doc` export with `doc`, as a host does (a fresh 16-byte cell, the document
/// registered for the call only).
pub fn call_doc(f: extern "C" fn(i32, i32) -> i32, doc: &MockDoc) -> DocResult {
    let handle = NEXT_DOC.with(|n| {
        let h = n.get();
        n.set(h + 1);
        h
    });
    sys::imp::DOCS.with(|d| d.borrow_mut().insert(handle, doc.fields.clone()));
    let cell = copy_in(&[0u8; 16], 8);
    let status = f(handle, cell as i32);
    sys::imp::DOCS.with(|d| d.borrow_mut().remove(&handle));
    let bytes: [u8; 16] = copy_out(cell, 16).try_into().unwrap();
    // SAFETY: allocated above with (16, 8).
    unsafe { sys::dealloc(cell, 16, 8) };
    DocResult { status, cell: bytes }
}

/// An argument column for [`call_batch`].
#[derive(Clone, Debug)]
pub struct Column {
    pub ty: u32,
    pub validity: Option<Vec<u8>>,
    pub offsets: Option<Vec<i32>>,
    pub values: Vec<u8>,
}

fn validity_of(valid: impl Iterator<Item = bool>) -> Option<Vec<u8>> {
    let valid: Vec<bool> = valid.collect();
    if valid.iter().all(|v| *v) {
        return None;
    }
    let mut bits = vec![0u8; bitmap_bytes(valid.len())];
    for (i, v) in valid.iter().enumerate() {
        if *v {
            bits[i / 8] |= 1 << (i % 8);
        }
    }
    Some(bits)
}

macro_rules! fixed_columns {
    ($($fname:ident: $t:ty => $sql:expr, |$v:ident| $bytes:expr;)*) => {$(
        pub fn $fname(values: &[Option<$t>]) -> Column {
            let mut out = Vec::new();
            for v in values {
                let $v = v.unwrap_or_default();
                out.extend_from_slice(&$bytes);
            }
            Column { ty: $sql.code(), validity: validity_of(values.iter().map(Option::is_some)), offsets: None, values: out }
        }
    )*};
}

impl Column {
    fixed_columns! {
        i32s: i32 => SqlType::I32, |v| v.to_le_bytes();
        i64s: i64 => SqlType::I64, |v| v.to_le_bytes();
        f32s: f32 => SqlType::F32, |v| v.to_le_bytes();
        f64s: f64 => SqlType::F64, |v| v.to_le_bytes();
        timestamps: i64 => SqlType::Timestamp, |v| v.to_le_bytes();
    }

    pub fn bools(values: &[Option<bool>]) -> Column {
        let mut bits = vec![0u8; bitmap_bytes(values.len())];
        for (i, v) in values.iter().enumerate() {
            if *v == Some(true) {
                bits[i / 8] |= 1 << (i % 8);
            }
        }
        Column {
            ty: SqlType::Bool.code(),
            validity: validity_of(values.iter().map(Option::is_some)),
            offsets: None,
            values: bits,
        }
    }

    fn var(ty: SqlType, values: &[Option<&[u8]>]) -> Column {
        let mut offsets = vec![0i32];
        let mut data = Vec::new();
        for v in values {
            data.extend_from_slice(v.unwrap_or_default());
            offsets.push(data.len() as i32);
        }
        Column {
            ty: ty.code(),
            validity: validity_of(values.iter().map(Option::is_some)),
            offsets: Some(offsets),
            values: data,
        }
    }

    pub fn strs(values: &[Option<&str>]) -> Column {
        let v: Vec<Option<&[u8]>> = values.iter().map(|s| s.map(str::as_bytes)).collect();
        Self::var(SqlType::String, &v)
    }

    /// A string column with arbitrary bytes (to test UTF-8 checks).
    pub fn str_bytes(values: &[Option<&[u8]>]) -> Column {
        Self::var(SqlType::String, values)
    }

    pub fn bytes(values: &[Option<&[u8]>]) -> Column {
        Self::var(SqlType::Bytes, values)
    }
}

/// A value of a batch result.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Bool(bool),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Timestamp(i64),
    Bytes(Vec<u8>),
}

/// What a `name__batch` call returned.
#[derive(Debug)]
pub struct BatchResult {
    pub status: i32,
    pub ty: u32,
    pub values: Vec<Option<Value>>,
    pub errors: Vec<Option<String>>,
}

impl BatchResult {
    fn map<T>(&self, f: impl Fn(&Value) -> Option<T>) -> Vec<Option<T>> {
        assert_eq!(self.status, 0);
        self.values.iter().map(|v| v.as_ref().map(|v| f(v).expect("the result column's type"))).collect()
    }
    pub fn i64s(&self) -> Vec<Option<i64>> {
        self.map(|v| if let Value::I64(x) = v { Some(*x) } else { None })
    }
    pub fn i32s(&self) -> Vec<Option<i32>> {
        self.map(|v| if let Value::I32(x) = v { Some(*x) } else { None })
    }
    pub fn f64s(&self) -> Vec<Option<f64>> {
        self.map(|v| if let Value::F64(x) = v { Some(*x) } else { None })
    }
    pub fn f32s(&self) -> Vec<Option<f32>> {
        self.map(|v| if let Value::F32(x) = v { Some(*x) } else { None })
    }
    pub fn bools(&self) -> Vec<Option<bool>> {
        self.map(|v| if let Value::Bool(x) = v { Some(*x) } else { None })
    }
    pub fn timestamps(&self) -> Vec<Option<i64>> {
        self.map(|v| if let Value::Timestamp(x) = v { Some(*x) } else { None })
    }
    pub fn strings(&self) -> Vec<Option<String>> {
        self.map(|v| if let Value::Bytes(x) = v { Some(String::from_utf8(x.clone()).expect("UTF-8")) } else { None })
    }
    pub fn byte_values(&self) -> Vec<Option<Vec<u8>>> {
        self.map(|v| if let Value::Bytes(x) = v { Some(x.clone()) } else { None })
    }
}

/// Calls a `name__batch` export over `rows` rows of `columns` as a host does: builds the
/// descriptor and argument buffers, calls, checks and copies out the result and errors records,
/// frees the guest's buffers with the sizes the ABI gives and then its own.
pub fn call_batch(f: extern "C" fn(i32) -> i32, rows: usize, columns: &[Column]) -> BatchResult {
    call_batch_with(f, rows, columns, |_| {})
}

/// [`call_batch`] with a chance to alter the descriptor (its address is passed) before the call.
pub fn call_batch_with(
    f: extern "C" fn(i32) -> i32,
    rows: usize,
    columns: &[Column],
    edit: impl FnOnce(u32),
) -> BatchResult {
    let n = columns.len();
    let desc_size = 16 + 24 * (n + 1) + 24;
    let desc = copy_in(&vec![0u8; desc_size], 8);
    write_u32(desc, 1);
    write_u32(desc + 4, rows as u32);
    write_u32(desc + 8, n as u32);
    let mut host_buffers: Vec<(u32, usize)> = vec![(desc, desc_size)];
    for (k, c) in columns.iter().enumerate() {
        let at = desc + 16 + 24 * k as u32;
        write_u32(at, c.ty);
        if let Some(v) = &c.validity {
            let a = copy_in(v, 8);
            host_buffers.push((a, v.len()));
            write_u32(at + 4, a);
        }
        if let Some(o) = &c.offsets {
            let bytes: Vec<u8> = o.iter().flat_map(|x| x.to_le_bytes()).collect();
            let a = copy_in(&bytes, 8);
            host_buffers.push((a, bytes.len()));
            write_u32(at + 8, a);
        }
        let a = copy_in(&c.values, 8);
        host_buffers.push((a, c.values.len()));
        write_u32(at + 12, a);
        write_u32(at + 16, c.values.len() as u32);
    }
    edit(desc);
    let status = f(desc as i32);
    let res = desc + 16 + 24 * n as u32;
    let err = res + 24;
    let mut out = BatchResult { status, ty: 0, values: Vec::new(), errors: Vec::new() };
    if status != 0 {
        assert_eq!(copy_out(res, 48), vec![0u8; 48], "status {status} but the guest wrote its records");
    } else {
        out.ty = read_u32(res);
        let (validity, offsets, values, values_len) =
            (read_u32(res + 4), read_u32(res + 8), read_u32(res + 12), read_u32(res + 16) as usize);
        assert_eq!(read_u32(res + 20), 0, "reserved");
        let ty = out.ty;
        let valid = |i: usize| validity == 0 || copy_out(validity + (i / 8) as u32, 1)[0] & (1 << (i % 8)) != 0;
        let width = match ty {
            2 | 4 => 4,
            3 | 5 | 8 => 8,
            _ => 0,
        };
        if width > 0 {
            assert_eq!(values_len, rows * width, "values_len of a fixed-width result");
            assert_eq!(offsets, 0);
        }
        if ty == 1 {
            assert_eq!(values_len, bitmap_bytes(rows));
        }
        let data = copy_out(values, values_len);
        let offs: Vec<usize> = if ty == 6 || ty == 7 {
            assert!(offsets != 0);
            let o: Vec<usize> = (0..=rows).map(|i| read_u32(offsets + 4 * i as u32) as usize).collect();
            assert_eq!(o[0], 0);
            assert!(o.windows(2).all(|w| w[0] <= w[1]) && o[rows] == values_len, "offsets {o:?}");
            o
        } else {
            Vec::new()
        };
        for i in 0..rows {
            if !valid(i) {
                out.values.push(None);
                continue;
            }
            let fixed = |w: usize| &data[i * w..i * w + w];
            out.values.push(Some(match ty {
                1 => Value::Bool(data[i / 8] & (1 << (i % 8)) != 0),
                2 => Value::I32(i32::from_le_bytes(fixed(4).try_into().unwrap())),
                3 => Value::I64(i64::from_le_bytes(fixed(8).try_into().unwrap())),
                4 => Value::F32(f32::from_le_bytes(fixed(4).try_into().unwrap())),
                5 => Value::F64(f64::from_le_bytes(fixed(8).try_into().unwrap())),
                8 => Value::Timestamp(i64::from_le_bytes(fixed(8).try_into().unwrap())),
                6 | 7 => Value::Bytes(data[offs[i]..offs[i + 1]].to_vec()),
                other => panic!("result column type {other}"),
            }));
        }
        // the errors record
        let (count, bitmap, eoffsets, messages, messages_len) = (
            read_u32(err) as usize,
            read_u32(err + 4),
            read_u32(err + 8),
            read_u32(err + 12),
            read_u32(err + 16) as usize,
        );
        if count == 0 {
            assert_eq!(copy_out(err, 24), vec![0u8; 24], "no errors but the record is not all 0");
            out.errors = vec![None; rows];
        } else {
            let text = copy_out(messages, messages_len);
            let o: Vec<usize> = (0..=rows).map(|i| read_u32(eoffsets + 4 * i as u32) as usize).collect();
            assert!(o[0] == 0 && o.windows(2).all(|w| w[0] <= w[1]) && o[rows] == messages_len, "error offsets {o:?}");
            let bits = copy_out(bitmap, bitmap_bytes(rows));
            for i in 0..rows {
                if bits[i / 8] & (1 << (i % 8)) != 0 {
                    assert!(out.values[i].is_none(), "row {i} failed but has a value");
                    out.errors.push(Some(String::from_utf8(text[o[i]..o[i + 1]].to_vec()).expect("UTF-8 message")));
                } else {
                    assert_eq!(o[i], o[i + 1], "row {i} has no error but a message");
                    out.errors.push(None);
                }
            }
            assert_eq!(out.errors.iter().filter(|e| e.is_some()).count(), count);
        }
        // free the guest's buffers as the host does: (ptr, size, 8)
        let var = ty == 6 || ty == 7;
        // SAFETY: the sizes the ABI gives for each buffer.
        unsafe {
            for (p, size) in [
                (validity, bitmap_bytes(rows)),
                (offsets, if var { 4 * (rows + 1) } else { 0 }),
                (values, values_len),
                (bitmap, bitmap_bytes(rows)),
                (eoffsets, 4 * (rows + 1)),
                (messages, messages_len),
            ] {
                if p != 0 {
                    crate::wasmqe_dealloc(p as i32, size as i32, 8);
                }
            }
        }
    }
    for (p, size) in host_buffers {
        // SAFETY: allocated above with (size, 8).
        unsafe { sys::dealloc(p, size, 8) };
    }
    out
}
