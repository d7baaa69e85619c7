//! The batch style (docs/udf-abi.md section 5): one call per batch, Arrow's columnar layout in
//! guest memory, described by a batch descriptor.

use crate::sys;
use crate::types::{ArgError, ArgMeta, FieldError, FieldErrorKind, OutValue, Outcome, Ret, SqlType, Timestamp};

/// Status: the result and errors are written.
pub const STATUS_OK: i32 = 0;
/// Status: the descriptor does not match the manifest; nothing was written.
pub const STATUS_BAD_DESCRIPTOR: i32 = 1;
/// Status: the guest could not allocate its output; nothing was written.
pub const STATUS_NO_MEMORY: i32 = 2;

/// Size of the descriptor header and of a column record.
pub const HEADER_BYTES: u32 = 16;
pub const COLUMN_BYTES: u32 = 24;

#[inline]
fn read_u32(addr: u32) -> u32 {
    // SAFETY: the host gave us the descriptor and the buffers it points to.
    u32::from_le(unsafe { core::ptr::read_unaligned(sys::ptr(addr) as *const u32) })
}

#[inline]
fn write_u32(addr: u32, v: u32) {
    // SAFETY: inside a buffer we own or the descriptor's guest-written part.
    unsafe { core::ptr::write_unaligned(sys::ptr(addr) as *mut u32, v.to_le()) }
}

#[inline]
fn bit(bitmap: u32, row: usize) -> bool {
    read_byte(bitmap + (row / 8) as u32) & (1 << (row % 8)) != 0
}

#[inline]
fn read_byte(addr: u32) -> u8 {
    // SAFETY: as read_u32.
    unsafe { *sys::ptr(addr) }
}

/// `ceil(rows / 8)`: the bytes of a bitmap.
pub const fn bitmap_bytes(rows: usize) -> usize {
    rows.div_ceil(8)
}

/// An allocation for the host (`wasmqe_alloc(size, 8)`), zero-filled; 0 when memory is exhausted.
fn alloc_zeroed(size: usize) -> u32 {
    let addr = sys::alloc(size, 8);
    if addr != 0 && size > 0 {
        // SAFETY: a fresh allocation of `size` bytes.
        unsafe { core::ptr::write_bytes(sys::ptr(addr), 0, size) };
    }
    addr
}

fn free(addr: u32, size: usize) {
    if addr != 0 {
        // SAFETY: every buffer freed here was allocated by alloc_zeroed / sys::alloc(size, 8).
        unsafe { sys::dealloc(addr, size, 8) };
    }
}

/// A column record as the host wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawColumn {
    pub ty: u32,
    pub validity: u32,
    pub offsets: u32,
    pub values: u32,
    pub values_len: u32,
}

impl RawColumn {
    fn read(addr: u32) -> Self {
        RawColumn {
            ty: read_u32(addr),
            validity: read_u32(addr + 4),
            offsets: read_u32(addr + 8),
            values: read_u32(addr + 12),
            values_len: read_u32(addr + 16),
        }
    }

    /// Does this column match a declared type for `rows` rows? (otherwise: status 1)
    fn check(&self, ty: SqlType, rows: usize) -> bool {
        if self.ty != ty.code() {
            return false;
        }
        let needed: u64 = match ty {
            SqlType::Bool => bitmap_bytes(rows) as u64,
            SqlType::String | SqlType::Bytes => return self.check_offsets(rows),
            _ => rows as u64 * ty.width() as u64,
        };
        (self.values_len as u64) >= needed && (needed == 0 || self.values != 0)
    }

    /// Offsets: `rows + 1` of them, the first 0, never decreasing, the last within `values_len`.
    fn check_offsets(&self, rows: usize) -> bool {
        if self.offsets == 0 {
            return rows == 0;
        }
        let mut previous = 0u32;
        for i in 0..=rows {
            let o = read_u32(self.offsets + 4 * i as u32);
            if (i == 0 && o != 0) || o < previous || o > self.values_len {
                return false;
            }
            previous = o;
        }
        previous == 0 || self.values != 0
    }

    #[inline]
    pub fn is_valid(&self, row: usize) -> bool {
        self.validity == 0 || bit(self.validity, row)
    }

    #[inline]
    fn fixed<const W: usize>(&self, row: usize) -> [u8; W] {
        // SAFETY: checked: values_len >= rows * W.
        unsafe { core::ptr::read_unaligned(sys::ptr(self.values + (row * W) as u32) as *const [u8; W]) }
    }

    #[inline]
    fn var(&self, row: usize) -> &[u8] {
        let start = read_u32(self.offsets + 4 * row as u32);
        let end = read_u32(self.offsets + 4 * (row as u32 + 1));
        if end == start {
            return &[];
        }
        // SAFETY: checked: offsets are monotonic and within values_len.
        unsafe { core::slice::from_raw_parts(sys::ptr(self.values + start), (end - start) as usize) }
    }
}

/// A batch descriptor, checked against the manifest's argument count.
pub struct Batch {
    desc: u32,
    rows: usize,
    num_args: u32,
}

impl Batch {
    /// Reads the header at `desc`; `Err(1)` when it does not match (ABI major, `num_args`).
    ///
    /// # Safety
    /// `desc` is a batch descriptor the host allocated in guest memory.
    pub unsafe fn open(desc: i32, num_args: u32) -> Result<Batch, i32> {
        let desc = desc as u32;
        if desc == 0 || read_u32(desc) != 1 || read_u32(desc + 8) != num_args {
            return Err(STATUS_BAD_DESCRIPTOR);
        }
        Ok(Batch { desc, rows: read_u32(desc + 4) as usize, num_args })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    fn column_addr(&self, index: u32) -> u32 {
        self.desc + HEADER_BYTES + COLUMN_BYTES * index
    }

    /// Argument column `index`, checked against its declared type.
    pub fn column(&self, index: u32, ty: SqlType, name: &'static str) -> Result<ArgColumn, i32> {
        let raw = RawColumn::read(self.column_addr(index));
        if raw.check(ty, self.rows) {
            Ok(ArgColumn { raw, name })
        } else {
            Err(STATUS_BAD_DESCRIPTOR)
        }
    }
}

/// A checked argument column.
pub struct ArgColumn {
    pub raw: RawColumn,
    pub name: &'static str,
}

/// An argument type of the batch style.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an argument of a batch-style function",
    note = "arguments are bool, i32, i64, f32, f64, Timestamp, &str or &[u8], optionally in Option<_> \
            (a `&Document` parameter is for the document style only)"
)]
pub trait BatchArg<'a>: Sized + ArgMeta {
    const SQL: SqlType;
    /// `Ok(None)`: NULL for a strict argument (the row's result is NULL without a call).
    fn get(col: &'a ArgColumn, row: usize) -> Result<Option<Self>, ArgError>;
}

macro_rules! batch_args {
    ($($t:ty => $sql:expr, |$c:ident, $r:ident| $read:expr;)*) => {$(
        impl<'a> BatchArg<'a> for $t {
            const SQL: SqlType = $sql;
            #[inline]
            fn get(col: &'a ArgColumn, row: usize) -> Result<Option<Self>, ArgError> {
                if !col.raw.is_valid(row) {
                    return Ok(None);
                }
                let ($c, $r) = (col, row);
                $read.map(Some)
            }
        }
        impl<'a> BatchArg<'a> for Option<$t> {
            const SQL: SqlType = $sql;
            #[inline]
            fn get(col: &'a ArgColumn, row: usize) -> Result<Option<Self>, ArgError> {
                if !col.raw.is_valid(row) {
                    return Ok(Some(None));
                }
                let ($c, $r) = (col, row);
                $read.map(|v| Some(Some(v)))
            }
        }
    )*};
}

fn utf8<'a>(col: &ArgColumn, b: &'a [u8]) -> Result<&'a str, ArgError> {
    core::str::from_utf8(b).map_err(|_| ArgError {
        arg: col.name,
        error: FieldError { kind: FieldErrorKind::NotUtf8, expected: SqlType::String },
    })
}

batch_args! {
    bool => SqlType::Bool, |c, r| Ok::<_, ArgError>(bit(c.raw.values, r));
    i32 => SqlType::I32, |c, r| Ok::<_, ArgError>(i32::from_le_bytes(c.raw.fixed::<4>(r)));
    i64 => SqlType::I64, |c, r| Ok::<_, ArgError>(i64::from_le_bytes(c.raw.fixed::<8>(r)));
    f32 => SqlType::F32, |c, r| Ok::<_, ArgError>(f32::from_le_bytes(c.raw.fixed::<4>(r)));
    f64 => SqlType::F64, |c, r| Ok::<_, ArgError>(f64::from_le_bytes(c.raw.fixed::<8>(r)));
    Timestamp => SqlType::Timestamp, |c, r| Ok::<_, ArgError>(Timestamp(i64::from_le_bytes(c.raw.fixed::<8>(r))));
    &'a str => SqlType::String, |c, r| utf8(c, c.raw.var(r));
    &'a [u8] => SqlType::Bytes, |c, r| Ok::<_, ArgError>(c.raw.var(r));
}

/// The result column under construction. Fixed-width values and bitmaps are allocated for the
/// host up front; string and bytes data grow in a Vec and are copied into the host's buffer at
/// the end (its exact size is only known then).
pub struct ResultColumn {
    ty: SqlType,
    rows: usize,
    row: usize,
    validity: u32,
    nulls: usize,
    /// fixed width and bool: the values buffer; string/bytes: the offsets buffer
    buf: u32,
    buf_size: usize,
    data: Vec<u8>,
}

impl ResultColumn {
    /// `None` when memory is exhausted.
    pub fn new(ty: SqlType, rows: usize) -> Option<Self> {
        let buf_size = match ty {
            SqlType::Bool => bitmap_bytes(rows),
            SqlType::String | SqlType::Bytes => 4 * (rows + 1),
            _ => rows * ty.width(),
        };
        let validity = alloc_zeroed(bitmap_bytes(rows));
        if validity == 0 {
            return None;
        }
        let buf = alloc_zeroed(buf_size);
        if buf == 0 {
            free(validity, bitmap_bytes(rows));
            return None;
        }
        Some(ResultColumn { ty, rows, row: 0, validity, nulls: 0, buf, buf_size, data: Vec::new() })
    }

    #[inline]
    fn set_bit(bitmap: u32, row: usize) {
        let p = sys::ptr(bitmap + (row / 8) as u32);
        // SAFETY: row < rows, the bitmap has ceil(rows / 8) bytes.
        unsafe { *p |= 1 << (row % 8) };
    }

    #[inline]
    fn next_row(&mut self) -> Option<usize> {
        let row = self.row;
        if row >= self.rows {
            return None;
        }
        self.row += 1;
        Some(row)
    }

    /// A fixed-width value, little-endian (`bytes.len()` is the type's width).
    #[inline]
    pub fn push_fixed(&mut self, bytes: &[u8]) -> bool {
        let Some(row) = self.next_row() else { return false };
        Self::set_bit(self.validity, row);
        // SAFETY: the values buffer has rows * width bytes.
        unsafe {
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), sys::ptr(self.buf + (row * bytes.len()) as u32), bytes.len())
        };
        true
    }

    #[inline]
    pub fn push_bool(&mut self, v: bool) -> bool {
        let Some(row) = self.next_row() else { return false };
        Self::set_bit(self.validity, row);
        if v {
            Self::set_bit(self.buf, row);
        }
        true
    }

    /// A string or bytes value; false when memory is exhausted (or the data passes 4 GiB).
    pub fn push_var(&mut self, bytes: &[u8]) -> bool {
        if self.data.try_reserve(bytes.len()).is_err() || self.data.len() + bytes.len() > i32::MAX as usize {
            return false;
        }
        let Some(row) = self.next_row() else { return false };
        Self::set_bit(self.validity, row);
        self.data.extend_from_slice(bytes);
        write_u32(self.buf + 4 * (row as u32 + 1), self.data.len() as u32);
        true
    }

    pub fn push_null(&mut self) -> bool {
        let Some(row) = self.next_row() else { return false };
        self.nulls += 1;
        if matches!(self.ty, SqlType::String | SqlType::Bytes) {
            write_u32(self.buf + 4 * (row as u32 + 1), self.data.len() as u32);
        }
        true
    }

    /// Frees what was allocated for the host.
    pub fn abandon(self) {
        free(self.validity, bitmap_bytes(self.rows));
        free(self.buf, self.buf_size);
    }

    /// Writes the column record at `dest`; false (everything freed) when memory is exhausted.
    fn finish(self, dest: u32) -> bool {
        let var = matches!(self.ty, SqlType::String | SqlType::Bytes);
        let (offsets, values, values_len) = if var {
            let len = self.data.len();
            let values = sys::alloc(len, 8);
            if values == 0 {
                self.abandon();
                return false;
            }
            // SAFETY: `values` has len bytes.
            unsafe { core::ptr::copy_nonoverlapping(self.data.as_ptr(), sys::ptr(values), len) };
            (self.buf, values, len)
        } else {
            (0, self.buf, self.buf_size)
        };
        let validity = if self.nulls == 0 {
            free(self.validity, bitmap_bytes(self.rows));
            0
        } else {
            self.validity
        };
        write_u32(dest, self.ty.code());
        write_u32(dest + 4, validity);
        write_u32(dest + 8, offsets);
        write_u32(dest + 12, values);
        write_u32(dest + 16, values_len as u32);
        write_u32(dest + 20, 0);
        true
    }
}

/// The errors record under construction; it allocates nothing until the first error.
pub struct ErrorColumn {
    rows: usize,
    count: usize,
    bitmap: u32,
    offsets: u32,
    /// offsets[i + 1] is written for every i < filled
    filled: usize,
    messages: Vec<u8>,
}

impl ErrorColumn {
    pub fn new(rows: usize) -> Self {
        ErrorColumn { rows, count: 0, bitmap: 0, offsets: 0, filled: 0, messages: Vec::new() }
    }

    /// Records the error of `row` (rows come in increasing order); false when memory is exhausted.
    pub fn push(&mut self, row: usize, pieces: &[&[u8]]) -> bool {
        if row >= self.rows || row < self.filled {
            return false;
        }
        if self.count == 0 {
            self.bitmap = alloc_zeroed(bitmap_bytes(self.rows));
            self.offsets = alloc_zeroed(4 * (self.rows + 1)); // all 0 up to the first message
            if self.bitmap == 0 || self.offsets == 0 {
                return false;
            }
        }
        let len: usize = pieces.iter().map(|p| p.len()).sum();
        if self.messages.try_reserve(len).is_err() || self.messages.len() + len > i32::MAX as usize {
            return false;
        }
        self.fill_to(row);
        for p in pieces {
            self.messages.extend_from_slice(p);
        }
        ResultColumn::set_bit(self.bitmap, row);
        write_u32(self.offsets + 4 * (row as u32 + 1), self.messages.len() as u32);
        self.filled = row + 1;
        self.count += 1;
        true
    }

    /// offsets[i + 1] = the current length for the rows without an error before `row`.
    fn fill_to(&mut self, row: usize) {
        while self.filled < row {
            write_u32(self.offsets + 4 * (self.filled as u32 + 1), self.messages.len() as u32);
            self.filled += 1;
        }
    }

    pub fn abandon(self) {
        free(self.bitmap, bitmap_bytes(self.rows));
        free(self.offsets, 4 * (self.rows + 1));
    }

    /// Allocates the messages buffer; false (everything freed) when memory is exhausted.
    fn prepare(&mut self) -> Result<u32, ()> {
        if self.count == 0 {
            return Ok(0);
        }
        self.fill_to(self.rows);
        let messages = sys::alloc(self.messages.len(), 8);
        if messages == 0 {
            return Err(());
        }
        // SAFETY: `messages` has messages.len() bytes.
        unsafe { core::ptr::copy_nonoverlapping(self.messages.as_ptr(), sys::ptr(messages), self.messages.len()) };
        Ok(messages)
    }

    fn write(&self, dest: u32, messages: u32) {
        let count = self.count != 0;
        write_u32(dest, self.count as u32);
        write_u32(dest + 4, if count { self.bitmap } else { 0 });
        write_u32(dest + 8, if count { self.offsets } else { 0 });
        write_u32(dest + 12, messages);
        write_u32(dest + 16, if count { self.messages.len() as u32 } else { 0 });
        write_u32(dest + 20, 0);
    }
}

/// The body of a `name__batch` export once the argument columns are checked: calls `f` for every
/// row, writes the result and errors records and returns the status.
#[doc(hidden)]
pub fn run<R: Ret>(b: &Batch, mut f: impl FnMut(usize) -> Outcome<R::Value>) -> i32 {
    let rows = b.rows;
    let Some(mut result) = ResultColumn::new(<R::Value as OutValue>::TYPE, rows) else {
        return STATUS_NO_MEMORY;
    };
    let mut errors = ErrorColumn::new(rows);
    for row in 0..rows {
        let ok = match f(row) {
            Outcome::Value(v) => v.push(&mut result),
            Outcome::Null => result.push_null(),
            Outcome::Arg(e) => {
                let p = e.pieces();
                result.push_null()
                    && errors.push(
                        row,
                        &[
                            p[0].as_bytes(),
                            p[1].as_bytes(),
                            p[2].as_bytes(),
                            p[3].as_bytes(),
                            p[4].as_bytes(),
                            p[5].as_bytes(),
                        ],
                    )
            }
            Outcome::Error(message) => result.push_null() && errors.push(row, &[message.as_bytes()]),
        };
        if !ok {
            result.abandon();
            errors.abandon();
            return STATUS_NO_MEMORY;
        }
    }
    let messages = match errors.prepare() {
        Ok(m) => m,
        Err(()) => {
            result.abandon();
            errors.abandon();
            return STATUS_NO_MEMORY;
        }
    };
    let result_addr = b.column_addr(b.num_args);
    if !result.finish(result_addr) {
        free(messages, errors.messages.len());
        errors.abandon();
        return STATUS_NO_MEMORY;
    }
    errors.write(result_addr + COLUMN_BYTES, messages);
    STATUS_OK
}

macro_rules! out_fixed {
    ($($t:ty => $sql:expr, |$v:ident| $bytes:expr;)*) => {$(
        impl OutValue for $t {
            const TYPE: SqlType = $sql;
            #[inline]
            unsafe fn write_cell(self, cell: *mut u8) {
                let $v = self;
                let bytes = $bytes;
                core::ptr::copy_nonoverlapping(bytes.as_ptr(), cell, bytes.len());
            }
            #[inline]
            fn push(self, out: &mut ResultColumn) -> bool {
                let $v = self;
                out.push_fixed(&$bytes)
            }
        }
    )*};
}
out_fixed! {
    i32 => SqlType::I32, |v| v.to_le_bytes();
    i64 => SqlType::I64, |v| v.to_le_bytes();
    f32 => SqlType::F32, |v| v.to_le_bytes();
    f64 => SqlType::F64, |v| v.to_le_bytes();
    Timestamp => SqlType::Timestamp, |v| v.0.to_le_bytes();
}

impl OutValue for bool {
    const TYPE: SqlType = SqlType::Bool;
    #[inline]
    unsafe fn write_cell(self, cell: *mut u8) {
        core::ptr::write_unaligned(cell as *mut i32, (self as i32).to_le());
    }
    #[inline]
    fn push(self, out: &mut ResultColumn) -> bool {
        out.push_bool(self)
    }
}

impl OutValue for String {
    const TYPE: SqlType = SqlType::String;
    unsafe fn write_cell(self, cell: *mut u8) {
        crate::document::write_buf_cell(cell, &[self.as_bytes()]);
    }
    fn push(self, out: &mut ResultColumn) -> bool {
        out.push_var(self.as_bytes())
    }
}

impl OutValue for Vec<u8> {
    const TYPE: SqlType = SqlType::Bytes;
    unsafe fn write_cell(self, cell: *mut u8) {
        crate::document::write_buf_cell(cell, &[&self]);
    }
    fn push(self, out: &mut ResultColumn) -> bool {
        out.push_var(&self)
    }
}
