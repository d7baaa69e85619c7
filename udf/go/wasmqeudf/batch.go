//go:build wasip1 && wasm

package wasmqeudf

import (
	"math"
	"unsafe"
)

// Type is a column type code of the batch descriptor.
type Type uint32

const (
	TypeBool      Type = 1
	TypeI32       Type = 2
	TypeI64       Type = 3
	TypeF32       Type = 4
	TypeF64       Type = 5
	TypeString    Type = 6
	TypeBytes     Type = 7
	TypeTimestamp Type = 8
)

// Width is the byte width of a fixed-width type's values; 0 for bool (a bitmap), string and
// bytes.
func (t Type) Width() uint32 {
	switch t {
	case TypeI32, TypeF32:
		return 4
	case TypeI64, TypeF64, TypeTimestamp:
		return 8
	}
	return 0
}

// Statuses of a name__batch export.
const (
	BatchOK       int32 = 0 // the result and errors are written
	BatchMismatch int32 = 1 // the descriptor does not match the manifest; nothing written
	BatchNoMemory int32 = 2 // the guest could not allocate its output; nothing written
)

// Batch is a view of a batch descriptor (docs/udf-abi.md section 5) at its guest address.
//
//	0 abi_major, 4 num_rows, 8 num_args, 12 reserved,
//	16 column args[num_args], column result, errors  (24 bytes each)
type Batch uint32

func (b Batch) AbiMajor() uint32 { return loadU32(uint32(b)) }
func (b Batch) NumRows() int     { return int(loadU32(uint32(b) + 4)) }
func (b Batch) NumArgs() int     { return int(loadU32(uint32(b) + 8)) }

func (b Batch) columnAddr(k int) uint32 { return uint32(b) + 16 + 24*uint32(k) }

// Arg returns argument column k (host-owned: read it during the call, never free or keep it).
func (b Batch) Arg(k int) Column {
	a := b.columnAddr(k)
	return Column{
		Type:      Type(loadU32(a)),
		Validity:  loadU32(a + 4),
		Offsets:   loadU32(a + 8),
		Values:    loadU32(a + 12),
		ValuesLen: loadU32(a + 16),
	}
}

// Check verifies the descriptor against the manifest record's argument types: abi_major 1,
// num_args, each column's type, fixed-width values_len, and string/bytes offsets that start
// at 0, never decrease and stay within values_len. It returns BatchOK or BatchMismatch.
func (b Batch) Check(types ...Type) int32 {
	if b == 0 || b.AbiMajor() != ABIMajor || b.NumArgs() != len(types) {
		return BatchMismatch
	}
	rows := uint32(b.NumRows())
	for k, t := range types {
		c := b.Arg(k)
		if c.Type != t {
			return BatchMismatch
		}
		switch t {
		case TypeString, TypeBytes:
			if c.Offsets == 0 || (c.Values == 0 && c.ValuesLen != 0) {
				return BatchMismatch
			}
			prev := int32(0)
			if c.offset(0) != 0 {
				return BatchMismatch
			}
			for i := uint32(1); i <= rows; i++ {
				o := c.offset(int(i))
				if o < prev {
					return BatchMismatch
				}
				prev = o
			}
			if uint32(prev) > c.ValuesLen {
				return BatchMismatch
			}
		default:
			need := uint64(bitmapBytes(rows))
			if w := t.Width(); w != 0 {
				need = uint64(rows) * uint64(w)
				if c.Values%w != 0 {
					return BatchMismatch
				}
			}
			if uint64(c.ValuesLen) != need || (need != 0 && c.Values == 0) {
				return BatchMismatch
			}
		}
	}
	return BatchOK
}

// Column is one argument column (addresses in guest memory; 0 = none).
type Column struct {
	Type      Type
	Validity  uint32 // bitmap, bit i set = row i not NULL; 0 = no NULLs
	Offsets   uint32 // string/bytes: int32[num_rows+1]
	Values    uint32
	ValuesLen uint32
}

func bitmapBytes(rows uint32) uint32 { return (rows + 7) / 8 }

func bit(bitmap uint32, i int) bool {
	return *(*byte)(addr(bitmap + uint32(i>>3)))>>(uint(i)&7)&1 == 1
}

// Valid reports whether row i is not NULL.
func (c Column) Valid(i int) bool { return c.Validity == 0 || bit(c.Validity, i) }

// AllValid reports whether row i is not NULL in every column (strict functions).
func AllValid(i int, cols ...Column) bool {
	for _, c := range cols {
		if !c.Valid(i) {
			return false
		}
	}
	return true
}

func (c Column) at(i int, w uint32) unsafe.Pointer {
	return addr(c.Values + uint32(i)*w)
}

func (c Column) F64(i int) float64     { return *(*float64)(c.at(i, 8)) }
func (c Column) F32(i int) float32     { return *(*float32)(c.at(i, 4)) }
func (c Column) I64(i int) int64       { return *(*int64)(c.at(i, 8)) }
func (c Column) I32(i int) int32       { return *(*int32)(c.at(i, 4)) }
func (c Column) Timestamp(i int) int64 { return c.I64(i) }
func (c Column) Bool(i int) bool       { return bit(c.Values, i) }

func (c Column) offset(i int) int32 {
	return *(*int32)(addr(c.Offsets + 4*uint32(i)))
}

// Str returns string row i as a view of the host's buffer (no copy): use it during the call
// only; string(b) or strings.Clone to keep it.
func (c Column) Str(i int) string {
	o0, o1 := c.offset(i), c.offset(i+1)
	return MemString(c.Values+uint32(o0), uint32(o1-o0))
}

// BytesAt returns bytes row i as a view of the host's buffer (no copy), during the call only.
func (c Column) BytesAt(i int) []byte {
	o0, o1 := c.offset(i), c.offset(i+1)
	return Mem(c.Values+uint32(o0), uint32(o1-o0))
}

// Result builds the result column and the errors block of a batch call.
//
//	r := wasmqeudf.NewResult(wasmqeudf.TypeF64, b.NumRows())
//	for i := ... { r.SetF64(i, v) / r.SetNull(i) / r.SetError(i, "msg") }
//	return r.Finish(b)
//
// Rows may be set in any order. Nothing is allocated in the guest's ABI heap until Finish,
// which allocates every buffer with Alloc(size, 8) at exactly the size the host frees it
// with, and returns BatchNoMemory (having written nothing) if it cannot.
type Result struct {
	typ   Type
	rows  int
	null  []bool
	fixed []byte   // fixed width: rows * width; bool: bitmap
	strs  [][]byte // string/bytes values
	errs  map[int]string
}

// NewResult starts a result of the given type for rows rows.
func NewResult(t Type, rows int) *Result {
	r := &Result{typ: t, rows: rows, null: make([]bool, rows)}
	switch t {
	case TypeString, TypeBytes:
		r.strs = make([][]byte, rows)
	case TypeBool:
		r.fixed = make([]byte, bitmapBytes(uint32(rows)))
	default:
		r.fixed = make([]byte, rows*int(t.Width()))
	}
	return r
}

func (r *Result) slot(i int, w int) unsafe.Pointer { return unsafe.Pointer(&r.fixed[i*w]) }

func (r *Result) SetNull(i int)               { r.null[i] = true }
func (r *Result) SetF64(i int, v float64)     { *(*uint64)(r.slot(i, 8)) = math.Float64bits(v) }
func (r *Result) SetF32(i int, v float32)     { *(*uint32)(r.slot(i, 4)) = math.Float32bits(v) }
func (r *Result) SetI64(i int, v int64)       { *(*int64)(r.slot(i, 8)) = v }
func (r *Result) SetTimestamp(i int, v int64) { r.SetI64(i, v) }
func (r *Result) SetI32(i int, v int32)       { *(*int32)(r.slot(i, 4)) = v }
func (r *Result) SetBool(i int, v bool) {
	if v {
		r.fixed[i>>3] |= 1 << (uint(i) & 7)
	} else {
		r.fixed[i>>3] &^= 1 << (uint(i) & 7)
	}
}
func (r *Result) SetString(i int, s string) { r.strs[i] = []byte(s) }
func (r *Result) SetBytes(i int, b []byte)  { r.strs[i] = append([]byte(nil), b...) }

// SetError marks row i failed with a UTF-8 message; its result becomes NULL.
func (r *Result) SetError(i int, message string) {
	if r.errs == nil {
		r.errs = map[int]string{}
	}
	r.errs[i] = message
	r.null[i] = true
}

// allocs frees what Finish allocated if a later allocation fails.
type allocs [][2]uint32

func (a *allocs) alloc(size uint32) uint32 {
	p := Alloc(size, 8)
	if p != 0 {
		*a = append(*a, [2]uint32{p, size})
	}
	return p
}

func (a allocs) free() {
	for _, x := range a {
		Dealloc(x[0], x[1], 8)
	}
}

func (a *allocs) copyOf(b []byte) uint32 {
	p := a.alloc(uint32(len(b)))
	if p != 0 {
		copy(Mem(p, uint32(len(b))), b)
	}
	return p
}

func (a *allocs) bitmap(set func(int) bool, rows int) uint32 {
	bm := make([]byte, bitmapBytes(uint32(rows)))
	for i := 0; i < rows; i++ {
		if set(i) {
			bm[i>>3] |= 1 << (uint(i) & 7)
		}
	}
	return a.copyOf(bm)
}

func (a *allocs) offsets(rows int, length func(int) int) (uint32, []int32) {
	off := make([]int32, rows+1)
	for i := 0; i < rows; i++ {
		off[i+1] = off[i] + int32(length(i))
	}
	p := a.alloc(4 * uint32(rows+1))
	if p != 0 {
		copy(unsafe.Slice((*int32)(addr(p)), rows+1), off)
	}
	return p, off
}

// Finish writes the result column and the errors block into the descriptor and hands the
// buffers to the host. It returns BatchOK, or BatchNoMemory with nothing written.
func (r *Result) Finish(b Batch) int32 {
	var a allocs
	n := r.rows
	anyNull := false
	for _, x := range r.null {
		anyNull = anyNull || x
	}
	var validity, offsets, values, valuesLen uint32
	ok := true
	if anyNull {
		validity = a.bitmap(func(i int) bool { return !r.null[i] }, n)
		ok = validity != 0
	}
	if ok && r.strs != nil {
		var off []int32
		offsets, off = a.offsets(n, func(i int) int {
			if r.null[i] {
				return 0
			}
			return len(r.strs[i])
		})
		valuesLen = uint32(off[n])
		values = a.alloc(valuesLen)
		ok = offsets != 0 && values != 0
		if ok {
			buf := Mem(values, valuesLen)
			for i := 0; i < n; i++ {
				copy(buf[off[i]:off[i+1]], r.strs[i])
			}
		}
	} else if ok {
		valuesLen = uint32(len(r.fixed))
		values = a.copyOf(r.fixed)
		ok = values != 0
	}
	var errCount, errRows, errOffsets, messages, messagesLen uint32
	if ok && len(r.errs) > 0 {
		errCount = uint32(len(r.errs))
		errRows = a.bitmap(func(i int) bool { _, bad := r.errs[i]; return bad }, n)
		var off []int32
		errOffsets, off = a.offsets(n, func(i int) int { return len(r.errs[i]) })
		messagesLen = uint32(off[n])
		messages = a.alloc(messagesLen)
		ok = errRows != 0 && errOffsets != 0 && messages != 0
		if ok {
			buf := Mem(messages, messagesLen)
			for i, m := range r.errs {
				copy(buf[off[i]:off[i+1]], m)
			}
		}
	}
	if !ok {
		a.free()
		return BatchNoMemory
	}
	res := b.columnAddr(b.NumArgs())
	for k, v := range [6]uint32{uint32(r.typ), validity, offsets, values, valuesLen, 0} {
		storeU32(res+4*uint32(k), v)
	}
	errs := b.columnAddr(b.NumArgs() + 1)
	for k, v := range [6]uint32{errCount, errRows, errOffsets, messages, messagesLen, 0} {
		storeU32(errs+4*uint32(k), v)
	}
	return BatchOK
}
