//go:build wasip1 && wasm

package wasmqeudf

import "unsafe"

// The host API of the document style (docs/udf-abi.md section 4). A Go string parameter of a
// //go:wasmimport function is passed as (ptr: i32, len: i32), which is the ABI's
// (name_ptr, name_len); pointers are i32. The linker imports only the functions a module
// calls.

//go:wasmimport wasmqe_doc has_field
func docHasField(doc int32, name string) int32

//go:wasmimport wasmqe_doc get_i64
func docGetI64(doc int32, name string, out *int64) int32

//go:wasmimport wasmqe_doc get_f64
func docGetF64(doc int32, name string, out *float64) int32

//go:wasmimport wasmqe_doc get_bool
func docGetBool(doc int32, name string, out *int32) int32

//go:wasmimport wasmqe_doc get_string
func docGetString(doc int32, name string, out *[2]uint32) int32

//go:wasmimport wasmqe_doc get_bytes
func docGetBytes(doc int32, name string, out *[2]uint32) int32

// Statuses of a name__doc export.
const (
	OK    int32 = 0 // a value is in the result cell
	Null  int32 = 1 // the result is NULL
	Error int32 = 2 // a per-row error; the cell holds the message
)

// GetStatus is what a Doc getter found.
type GetStatus int32

const (
	GetOK        GetStatus = 0 // the value was read
	GetNull      GetStatus = 1 // the field is absent or null
	GetWrongType GetStatus = 2 // the field has another type (or is out of range for I32)
)

// Doc is the document handle a name__doc export receives; valid only during that call.
type Doc int32

// Out is the result cell a name__doc export receives: 16 bytes, 8-aligned, host-owned.
type Out uint32

// The out cells of the getters live in the heap (package variables), never on a goroutine
// stack: the host writes them, and get_string/get_bytes call back into wasmqe_alloc.
var (
	cellI64  int64
	cellF64  float64
	cellBool int32
	cellBuf  [2]uint32
)

// check turns a get_* status into a GetStatus. A bad handle (-1) is a host bug and a host
// that could not allocate in guest memory (3) means the guest's memory is exhausted: both
// are traps (docs/udf-abi.md section 6), here a panic, which the Go runtime turns into
// proc_exit(2).
func check(st int32) GetStatus {
	switch st {
	case 0, 1, 2:
		return GetStatus(st)
	case 3:
		panic("wasmqe_doc: the host could not allocate in guest memory")
	default:
		panic("wasmqe_doc: bad document handle")
	}
}

// Has reports whether the field is present and non-null.
func (d Doc) Has(name string) bool {
	switch docHasField(int32(d), name) {
	case 1:
		return true
	case 0:
		return false
	default:
		panic("wasmqe_doc: bad document handle")
	}
}

// F64 reads a float (or integer) field.
func (d Doc) F64(name string) (float64, GetStatus) {
	st := check(docGetF64(int32(d), name, &cellF64))
	return cellF64, st
}

// F32 reads a float field as f32.
func (d Doc) F32(name string) (float32, GetStatus) {
	v, st := d.F64(name)
	return float32(v), st
}

// I64 reads an integer (or timestamp) field.
func (d Doc) I64(name string) (int64, GetStatus) {
	st := check(docGetI64(int32(d), name, &cellI64))
	return cellI64, st
}

// Timestamp reads a timestamp field (microseconds since the Unix epoch, UTC).
func (d Doc) Timestamp(name string) (int64, GetStatus) { return d.I64(name) }

// I32 reads an integer field; a value outside the int32 range is GetWrongType.
func (d Doc) I32(name string) (int32, GetStatus) {
	v, st := d.I64(name)
	if st != GetOK {
		return 0, st
	}
	if v < -1<<31 || v > 1<<31-1 {
		return 0, GetWrongType
	}
	return int32(v), GetOK
}

// Bool reads a bool field.
func (d Doc) Bool(name string) (bool, GetStatus) {
	st := check(docGetBool(int32(d), name, &cellBool))
	if st != GetOK {
		return false, st
	}
	switch cellBool {
	case 0:
		return false, GetOK
	case 1:
		return true, GetOK
	}
	return false, GetWrongType
}

// takeBuffer copies the guest-owned buffer the host wrote into cellBuf and frees it.
func takeBuffer() []byte {
	p, n := cellBuf[0], cellBuf[1]
	b := make([]byte, n)
	copy(b, Mem(p, n))
	Dealloc(p, n, 1)
	return b
}

// String reads a string field (copied into Go memory; the host's buffer is freed).
func (d Doc) String(name string) (string, GetStatus) {
	st := check(docGetString(int32(d), name, &cellBuf))
	if st != GetOK {
		return "", st
	}
	return string(takeBuffer()), GetOK
}

// Bytes reads a bytes field (copied; the host's buffer is freed).
func (d Doc) Bytes(name string) ([]byte, GetStatus) {
	st := check(docGetBytes(int32(d), name, &cellBuf))
	if st != GetOK {
		return nil, st
	}
	return takeBuffer(), GetOK
}

func (o Out) ptr() unsafe.Pointer { return addr(uint32(o)) }

// F64 writes an f64 result; returns OK.
func (o Out) F64(v float64) int32 { *(*float64)(o.ptr()) = v; return OK }

// F32 writes an f32 result.
func (o Out) F32(v float32) int32 { *(*float32)(o.ptr()) = v; return OK }

// I64 writes an i64 (or timestamp) result.
func (o Out) I64(v int64) int32 { *(*int64)(o.ptr()) = v; return OK }

// I32 writes an i32 result.
func (o Out) I32(v int32) int32 { *(*int32)(o.ptr()) = v; return OK }

// Bool writes a bool result (as i32 0/1).
func (o Out) Bool(v bool) int32 {
	var x int32
	if v {
		x = 1
	}
	*(*int32)(o.ptr()) = x
	return OK
}

// Null returns the NULL status.
func (o Out) Null() int32 { return Null }

func (o Out) buffer(p uint32, n int, status int32) int32 {
	if p == 0 {
		// a document call has no "could not allocate" status: a trap (docs/udf-abi.md 6)
		panic("wasmqeudf: out of memory for a document result")
	}
	storeU32(uint32(o), p)
	storeU32(uint32(o)+4, uint32(n))
	return status
}

// String writes a string result (copied into a buffer the host owns and frees).
func (o Out) String(s string) int32 { return o.buffer(allocCopyString(s, 1), len(s), OK) }

// Bytes writes a bytes result.
func (o Out) Bytes(b []byte) int32 { return o.buffer(AllocCopy(b, 1), len(b), OK) }

// Error reports a per-row error with a UTF-8 message; returns Error.
func (o Out) Error(message string) int32 {
	return o.buffer(allocCopyString(message, 1), len(message), Error)
}
