//go:build wasip1 && wasm

// Package wasmqeudf is the Go guest SDK for the WASM UDF ABI 1.0 (docs/udf-abi.md).
//
// Importing it (a blank import is enough) exports the ABI's module functions
// wasmqe_abi_version, wasmqe_alloc and wasmqe_dealloc. The package also gives the document
// style's wasmqe_doc imports (Doc) and result cell (Out), and views of the batch style's
// descriptor (Batch, Column) with a builder for the result and errors columns (Result).
//
// Build a module with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o udf.wasm ./your/main/package
//
// and export the functions with //go:wasmexport. Go cannot emit custom sections: the
// manifest (JSON Lines) lives next to the package and `udf build` appends it as the
// `wasm-qe-udf` custom section and sets the memory maximum. The module is a WASI reactor:
// the host calls its `_initialize` export once before anything else.
//
// Only the Go standard library is used (unsafe, unicode/utf8); the package deliberately
// avoids fmt and os so that the module stays small and imports no more of WASI than the
// runtime itself needs.
package wasmqeudf

import "unsafe"

// ABIMajor is the ABI major version the package implements; manifest records say "1.0".
const ABIMajor = 1

//go:wasmexport wasmqe_abi_version
func wasmqeABIVersion() int32 { return ABIMajor }

// AllocBudget bounds the bytes live through Alloc at once (default 128 MiB). The Go runtime
// treats running out of memory as a fatal error (a trap for the host), while the ABI wants
// wasmqe_alloc to return 0; refusing allocations past a budget below the memory maximum is
// how this package keeps that promise. Lower it if the module's memory maximum is lower.
var AllocBudget uint64 = 128 << 20

// live keeps every block handed out by Alloc reachable (so the garbage collector neither
// frees it nor, since Go's collector does not move objects, moves it) until Dealloc. The key
// is the block's address in linear memory.
var (
	live      = map[uint32][]uint64{}
	liveBytes uint64
)

// Alloc returns a block of size bytes, 8-aligned, or 0 if it cannot (never panics for a
// size it refuses). Alloc(0, a) returns a distinct non-zero pointer. The block stays valid
// and in place until Dealloc.
func Alloc(size, align uint32) uint32 {
	if align == 0 || align&(align-1) != 0 || align > 8 {
		return 0
	}
	words := (uint64(size) + 7) / 8
	if words == 0 {
		words = 1
	}
	if liveBytes > AllocBudget || words*8 > AllocBudget-liveBytes {
		return 0
	}
	block := make([]uint64, words)
	p := uint32(uintptr(unsafe.Pointer(&block[0])))
	live[p] = block
	liveBytes += words * 8
	return p
}

// Dealloc frees a block from Alloc (size and align are those of the allocation). A pointer
// that is 0 or not live is ignored.
func Dealloc(ptr, size, align uint32) {
	if block, ok := live[ptr]; ok {
		delete(live, ptr)
		liveBytes -= uint64(len(block)) * 8
	}
}

//go:wasmexport wasmqe_alloc
func wasmqeAlloc(size, align uint32) uint32 { return Alloc(size, align) }

//go:wasmexport wasmqe_dealloc
func wasmqeDealloc(ptr, size, align uint32) { Dealloc(ptr, size, align) }

// Mem returns n bytes of linear memory at p (a view, no copy); nil when n is 0.
func Mem(p, n uint32) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(addr(p)), n)
}

// MemString returns n bytes at p as a string without copying: valid only while the memory
// at p is (for a batch argument, during the call).
func MemString(p, n uint32) string {
	if n == 0 {
		return ""
	}
	return unsafe.String((*byte)(addr(p)), n)
}

// AllocCopy copies b into a fresh Alloc(len(b), align) block; 0 if it cannot allocate.
func AllocCopy(b []byte, align uint32) uint32 {
	p := Alloc(uint32(len(b)), align)
	if p != 0 {
		copy(Mem(p, uint32(len(b))), b)
	}
	return p
}

func allocCopyString(s string, align uint32) uint32 {
	p := Alloc(uint32(len(s)), align)
	if p != 0 {
		copy(Mem(p, uint32(len(s))), s)
	}
	return p
}

func loadU32(p uint32) uint32     { return *(*uint32)(addr(p)) }
func storeU32(p uint32, v uint32) { *(*uint32)(addr(p)) = v }

// addr turns a linear-memory address (an i32 of the ABI) into a pointer. On wasm the Go heap
// lives in the linear memory, so the address is the pointer. `go vet` reports this one line
// as a "possible misuse of unsafe.Pointer"; that is expected and the only such place.
func addr(p uint32) unsafe.Pointer { return unsafe.Pointer(uintptr(p)) }
