package main

// The host side of the UDF ABI (docs/udf-abi.md) on wazero: the manifest, instances (with
// _initialize and the ABI version check), the wasmqe_doc imports, and the three calling styles.
// It follows toolchain/pipeline/udf_call.py (the reference host on wasmtime) call for call, down to
// the order of allocations and frees, so that both hosts give identical results.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

const (
	abiMajor        = 1
	manifestSection = "wasm-qe-udf"
	docModule       = "wasmqe_doc"
	resultCellSize  = 16
	bufferAlign     = 8
	headerSize      = 16
	columnSize      = 24
	errorsSize      = 24

	docOK, docNull, docError                 = 0, 1, 2
	getOK, getAbsent, getWrongType, getNoMem = 0, 1, 2, 3
	getBadHandle                             = -1
	batchOK, batchBadDescriptor, batchNoMem  = 0, 1, 2
)

// type name -> batch type tag; fixed byte width (0: bit-packed bool or variable width).
var typeTags = map[string]uint32{"bool": 1, "i32": 2, "i64": 3, "f32": 4, "f64": 5, "string": 6, "bytes": 7, "timestamp": 8}
var typeWidths = map[string]int{"i32": 4, "i64": 8, "f32": 4, "f64": 8, "timestamp": 8}

type Value struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
}

type Spec struct {
	ABI           string   `json:"abi"`
	Name          string   `json:"name"`
	Args          []Value  `json:"args"`
	Returns       Value    `json:"returns"`
	Fallible      bool     `json:"fallible"`
	Deterministic bool     `json:"deterministic"`
	Styles        []string `json:"styles"`
}

func (s *Spec) hasStyle(style string) bool {
	for _, st := range s.Styles {
		if st == style {
			return true
		}
	}
	return false
}

func (s *Spec) export(style string) string {
	switch style {
	case "document":
		return s.Name + "__doc"
	case "batch":
		return s.Name + "__batch"
	}
	return s.Name
}

// Failure: a call failed as a whole (a trap, or a module that broke the ABI), not a row.
type Failure struct{ Message string }

func (f *Failure) Error() string { return f.Message }

func failf(format string, args ...any) *Failure { return &Failure{fmt.Sprintf(format, args...)} }

// ---------------------------------------------------------------- the module

type Host struct {
	ctx      context.Context
	runtime  wazero.Runtime
	compiled wazero.CompiledModule
	specs    map[string]*Spec
	inst     *instance // nil: none yet, or discarded after a trap
	docs     map[int32]docObject
	nextDoc  int32
	// keepColumns: batch results are copied out, freed and checked, but not turned into one Go
	// value per row (the bench: a columnar host keeps the Arrow buffers as they are).
	keepColumns bool
}

type instance struct {
	mod     api.Module
	mem     api.Memory
	alloc   api.Function
	dealloc api.Function
	lost    bool
	exports map[string]api.Function // ExportedFunction makes a new call engine (and stack) each time
}

func runtimeConfig(mode string) (wazero.RuntimeConfig, error) {
	switch mode {
	case "compiler":
		return wazero.NewRuntimeConfigCompiler().WithCustomSections(true), nil
	case "interpreter":
		return wazero.NewRuntimeConfigInterpreter().WithCustomSections(true), nil
	}
	return nil, fmt.Errorf("--mode is compiler or interpreter, not %q", mode)
}

// NewHost makes the runtime with WASI (no files, environment or arguments) and the wasmqe_doc
// functions; Compile then compiles the module.
func NewHost(ctx context.Context, mode string) (*Host, error) {
	config, err := runtimeConfig(mode)
	if err != nil {
		return nil, err
	}
	h := &Host{ctx: ctx, runtime: wazero.NewRuntimeWithConfig(ctx, config), docs: map[int32]docObject{}, nextDoc: 1}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, h.runtime); err != nil {
		return nil, err
	}
	if err := h.defineDocumentAPI(); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *Host) Compile(wasm []byte) error {
	compiled, err := h.runtime.CompileModule(h.ctx, wasm)
	if err != nil {
		return fmt.Errorf("wazero cannot compile the module: %w", err)
	}
	h.compiled = compiled
	specs, err := readManifest(compiled)
	if err != nil {
		return err
	}
	h.specs = specs
	return nil
}

func (h *Host) Close() { h.runtime.Close(h.ctx) }

func readManifest(compiled wazero.CompiledModule) (map[string]*Spec, error) {
	specs := map[string]*Spec{}
	found := false
	for _, section := range compiled.CustomSections() {
		if section.Name() != manifestSection {
			continue
		}
		found = true
		scanner := bufio.NewScanner(bytes.NewReader(section.Data()))
		scanner.Buffer(make([]byte, 64*1024), len(section.Data())+1)
		for scanner.Scan() {
			line := strings.TrimSpace(scanner.Text())
			if line == "" {
				continue
			}
			spec := &Spec{}
			if err := json.Unmarshal([]byte(line), spec); err != nil {
				return nil, fmt.Errorf("the %s section has a line that is not a record: %v", manifestSection, err)
			}
			specs[spec.Name] = spec
		}
	}
	if !found {
		return nil, fmt.Errorf("the module has no %s custom section (not a UDF module)", manifestSection)
	}
	return specs, nil
}

func (h *Host) spec(name, style string) (*Spec, error) {
	spec, ok := h.specs[name]
	if !ok {
		known := make([]string, 0, len(h.specs))
		for n := range h.specs {
			known = append(known, n)
		}
		sort.Strings(known)
		return nil, failf("no function %q in the module's manifest (known: %s)", name, strings.Join(known, ", "))
	}
	if !spec.hasStyle(style) {
		return nil, failf("%s has no %s style (its styles: %s)", name, style, strings.Join(spec.Styles, ", "))
	}
	return spec, nil
}

// ---------------------------------------------------------------- instances

// instance returns the live instance, or a fresh one: after a trap the old one is discarded.
func (h *Host) instance() (*instance, error) {
	if h.inst != nil && !h.inst.lost {
		return h.inst, nil
	}
	if h.inst != nil {
		h.inst.mod.Close(h.ctx)
		h.inst = nil
	}
	inst, err := h.Instantiate()
	if err != nil {
		return nil, err
	}
	h.inst = inst
	return inst, nil
}

// Instantiate: a new anonymous instance, no start function; _initialize if exported, then
// wasmqe_abi_version() must be 1.
func (h *Host) Instantiate() (*instance, error) {
	config := wazero.NewModuleConfig().WithName("").WithStartFunctions()
	mod, err := h.runtime.InstantiateModule(h.ctx, h.compiled, config)
	if err != nil {
		return nil, failf("cannot instantiate the module: %v", err)
	}
	inst := &instance{
		mod: mod, mem: mod.Memory(), exports: map[string]api.Function{},
		alloc: mod.ExportedFunction("wasmqe_alloc"), dealloc: mod.ExportedFunction("wasmqe_dealloc"),
	}
	fail := func(f *Failure) (*instance, error) {
		mod.Close(h.ctx)
		return nil, f
	}
	if inst.mem == nil || inst.alloc == nil || inst.dealloc == nil {
		return fail(failf("the module does not export memory, wasmqe_alloc and wasmqe_dealloc"))
	}
	if init := mod.ExportedFunction("_initialize"); init != nil {
		if _, err := h.call(inst, init); err != nil {
			return fail(failf("_initialize: %v", err))
		}
	}
	version := mod.ExportedFunction("wasmqe_abi_version")
	if version == nil {
		return fail(failf("the module does not export wasmqe_abi_version"))
	}
	got, err := h.call(inst, version)
	if err != nil {
		return fail(failf("wasmqe_abi_version: %v", err))
	}
	if int32(got[0]) != abiMajor {
		return fail(failf("the module's wasmqe_abi_version() is %d, this host speaks ABI %d", int32(got[0]), abiMajor))
	}
	return inst, nil
}

// call runs guest code; an error is a trap (or an exit, or a host function's panic): the instance
// is lost, never called again.
func (h *Host) call(inst *instance, fn api.Function, params ...uint64) ([]uint64, error) {
	if inst.lost {
		return nil, failf("this instance was discarded after a trap")
	}
	results, err := fn.Call(h.ctx, params...)
	if err != nil {
		inst.lost = true
		return nil, failf("the UDF trapped: %s", firstLine(err.Error()))
	}
	return results, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}

func (h *Host) export(inst *instance, name string) (api.Function, error) {
	if fn, ok := inst.exports[name]; ok {
		return fn, nil
	}
	fn := inst.mod.ExportedFunction(name)
	if fn == nil {
		return nil, failf("the module does not export %s", name)
	}
	inst.exports[name] = fn
	return fn, nil
}

func (h *Host) allocate(inst *instance, size, align uint32) (uint32, error) {
	got, err := h.call(inst, inst.alloc, uint64(size), uint64(align))
	if err != nil {
		return 0, err
	}
	if uint32(got[0]) == 0 {
		return 0, failf("the guest could not allocate %d bytes", size)
	}
	return uint32(got[0]), nil
}

func (h *Host) free(inst *instance, ptr, size, align uint32) error {
	_, err := h.call(inst, inst.dealloc, uint64(ptr), uint64(size), uint64(align))
	return err
}

func (h *Host) read(inst *instance, ptr, size uint32) ([]byte, error) {
	if size == 0 {
		return []byte{}, nil
	}
	view, ok := inst.mem.Read(ptr, size)
	if !ok {
		return nil, failf("the guest's buffer at %d (%d bytes) is outside its memory", ptr, size)
	}
	return bytes.Clone(view), nil
}

func (h *Host) write(inst *instance, ptr uint32, data []byte) error {
	if len(data) > 0 && !inst.mem.Write(ptr, data) {
		return failf("cannot write %d bytes at %d: outside the guest's memory", len(data), ptr)
	}
	return nil
}

// ---------------------------------------------------------------- scalar (section 3)

// PrepareScalar: the wasm arguments, or nil when one is NULL (strict: NULL without calling).
func PrepareScalar(spec *Spec, args []any) ([]uint64, bool, error) {
	if len(args) != len(spec.Args) {
		return nil, false, failf("%s takes %d argument(s), got %d", spec.Name, len(spec.Args), len(args))
	}
	params := make([]uint64, len(args))
	for i, a := range args {
		if a == nil {
			return nil, true, nil
		}
		v, err := encodeScalar(a, spec.Args[i].Type, fmt.Sprintf("argument %s", spec.Args[i].Name))
		if err != nil {
			return nil, false, failf("bad request: %v", err)
		}
		params[i] = v
	}
	return params, false, nil
}

// CallScalar calls with the stack given (params in, result out: at least max(1, len(params))).
func (h *Host) CallScalar(spec *Spec, stack []uint64) (any, error) {
	inst, err := h.instance()
	if err != nil {
		return nil, err
	}
	fn, err := h.export(inst, spec.Name)
	if err != nil {
		return nil, err
	}
	if err := fn.CallWithStack(h.ctx, stack); err != nil {
		inst.lost = true
		return nil, failf("the UDF trapped: %s", firstLine(err.Error()))
	}
	return decodeScalar(stack[0], spec.Returns.Type), nil
}

// ---------------------------------------------------------------- document (section 4)

// RowError: the function's per-row error value.
type RowError struct{ Message string }

func (e *RowError) Error() string { return e.Message }

func PrepareDocument(doc map[string]any) (docObject, error) {
	typed, err := toDocument(map[string]any(doc))
	if err != nil {
		return nil, failf("bad request: document: %v", err)
	}
	object, ok := typed.(docObject)
	if !ok {
		return nil, failf("bad request: the document is a tagged value, not an object")
	}
	return object, nil
}

func (h *Host) CallDocument(spec *Spec, doc docObject) (any, error) {
	inst, err := h.instance()
	if err != nil {
		return nil, err
	}
	fn, err := h.export(inst, spec.export("document"))
	if err != nil {
		return nil, err
	}
	handle := h.nextDoc
	h.nextDoc++
	h.docs[handle] = doc
	cell, err := h.allocate(inst, resultCellSize, bufferAlign)
	if err != nil {
		delete(h.docs, handle)
		return nil, err
	}
	got, err := h.call(inst, fn, uint64(uint32(handle)), uint64(cell))
	delete(h.docs, handle)
	if err != nil {
		return nil, err
	}
	raw, err := h.read(inst, cell, resultCellSize)
	if err != nil {
		return nil, err
	}
	value, err := h.documentResult(inst, spec, int32(uint32(got[0])), raw)
	if !inst.lost {
		if ferr := h.free(inst, cell, resultCellSize, bufferAlign); ferr != nil && err == nil {
			err = ferr
		}
	}
	return value, err
}

func (h *Host) documentResult(inst *instance, spec *Spec, status int32, raw []byte) (any, error) {
	switch status {
	case docNull:
		return nil, nil
	case docError:
		ptr, n := binary.LittleEndian.Uint32(raw), binary.LittleEndian.Uint32(raw[4:])
		message, err := h.read(inst, ptr, n)
		if err != nil {
			return nil, err
		}
		if err := h.free(inst, ptr, n, 1); err != nil {
			return nil, err
		}
		return nil, &RowError{decodeMessage(message)}
	case docOK:
	default:
		return nil, failf("%s__doc returned status %d, which the ABI does not define", spec.Name, status)
	}
	switch typ := spec.Returns.Type; typ {
	case "string", "bytes":
		ptr, n := binary.LittleEndian.Uint32(raw), binary.LittleEndian.Uint32(raw[4:])
		data, err := h.read(inst, ptr, n)
		if err != nil {
			return nil, err
		}
		if err := h.free(inst, ptr, n, 1); err != nil {
			return nil, err
		}
		if typ == "bytes" {
			return data, nil
		}
		if !utf8.Valid(data) {
			return nil, failf("%s__doc returned a string that is not valid UTF-8", spec.Name)
		}
		return string(data), nil
	case "bool", "i32", "f32":
		return decodeScalar(uint64(binary.LittleEndian.Uint32(raw)), typ), nil
	default:
		return decodeScalar(binary.LittleEndian.Uint64(raw), typ), nil
	}
}

// The wasmqe_doc imports: documents are the host's (h.docs), valid during their call only.
func (h *Host) defineDocumentAPI() error {
	i32 := api.ValueTypeI32
	builder := h.runtime.NewHostModuleBuilder(docModule)
	builder.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
		status, _ := h.field(mod, stack)
		if status == getOK {
			stack[0] = api.EncodeI32(1)
		} else if status == getBadHandle {
			stack[0] = api.EncodeI32(getBadHandle)
		} else {
			stack[0] = api.EncodeI32(0)
		}
	}), []api.ValueType{i32, i32, i32}, []api.ValueType{i32}).Export("has_field")
	for _, kind := range []string{"i64", "f64", "bool", "string", "bytes"} {
		kind := kind
		builder.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
			stack[0] = api.EncodeI32(h.get(ctx, mod, kind, stack))
		}), []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}).Export("get_" + kind)
	}
	_, err := builder.Instantiate(h.ctx)
	return err
}

func (h *Host) field(mod api.Module, stack []uint64) (int32, any) {
	doc, ok := h.docs[api.DecodeI32(stack[0])]
	if !ok {
		return getBadHandle, nil
	}
	name, ok := mod.Memory().Read(api.DecodeU32(stack[1]), api.DecodeU32(stack[2]))
	if !ok {
		panic(fmt.Sprintf("wasmqe_doc: the field name at %d (%d bytes) is outside the guest's memory", api.DecodeU32(stack[1]), api.DecodeU32(stack[2])))
	}
	value := lookup(doc, decodeMessage(name))
	if value == nil {
		return getAbsent, nil
	}
	return getOK, value
}

// encodeField: a field's value for get_<kind>, or nil when its type is another (status 2).
func encodeField(value any, kind string) []byte {
	le := binary.LittleEndian
	switch kind {
	case "i64":
		switch v := value.(type) {
		case docInt:
			return le.AppendUint64(nil, uint64(v))
		case docTimestamp:
			return le.AppendUint64(nil, uint64(v))
		}
	case "f64":
		switch v := value.(type) {
		case docInt:
			return le.AppendUint64(nil, math.Float64bits(float64(v)))
		case docBigInt:
			return le.AppendUint64(nil, math.Float64bits(float64(v)))
		case docFloat:
			return le.AppendUint64(nil, math.Float64bits(float64(v)))
		}
	case "bool":
		if v, ok := value.(docBool); ok {
			if v {
				return le.AppendUint32(nil, 1)
			}
			return le.AppendUint32(nil, 0)
		}
	case "string":
		if v, ok := value.(docString); ok {
			return []byte(v)
		}
	case "bytes":
		if v, ok := value.(docBytes); ok {
			return []byte(v)
		}
	}
	return nil
}

func (h *Host) get(ctx context.Context, mod api.Module, kind string, stack []uint64) int32 {
	status, value := h.field(mod, stack)
	if status != getOK {
		return status
	}
	encoded := encodeField(value, kind)
	if encoded == nil {
		return getWrongType
	}
	out := api.DecodeU32(stack[3])
	mem := mod.Memory()
	if kind == "string" || kind == "bytes" {
		alloc := mod.ExportedFunction("wasmqe_alloc")
		if h.inst != nil && h.inst.mod == mod {
			alloc = h.inst.alloc // not the call engine of the guest's current call: no re-entrancy
		}
		got, err := alloc.Call(ctx, uint64(len(encoded)), 1)
		if err != nil {
			panic(err) // the guest trapped inside its allocator: the call fails as a trap
		}
		ptr := uint32(got[0])
		if ptr == 0 {
			return getNoMem
		}
		if !mem.Write(ptr, encoded) {
			panic(fmt.Sprintf("wasmqe_doc: wasmqe_alloc returned %d, outside the guest's memory", ptr))
		}
		encoded = binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, ptr), uint32(len(encoded)))
	}
	if !mem.Write(out, encoded) {
		panic(fmt.Sprintf("wasmqe_doc: get_%s's out pointer %d is outside the guest's memory", kind, out))
	}
	return getOK
}

// ---------------------------------------------------------------- batch (section 5)

// Column: one argument's Arrow buffers, made once from the request's JSON values.
type Column struct {
	Type     string
	Validity []byte // nil: no NULLs
	Offsets  []byte // string and bytes: i32[rows + 1]
	Values   []byte
}

func PrepareColumn(values []any, typ, what string) (Column, error) {
	rows := len(values)
	col := Column{Type: typ}
	nulls := false
	for _, v := range values {
		nulls = nulls || v == nil
	}
	if nulls {
		col.Validity = make([]byte, (rows+7)/8)
		for i, v := range values {
			if v != nil {
				col.Validity[i/8] |= 1 << (i % 8)
			}
		}
	}
	switch typ {
	case "string", "bytes":
		offsets := make([]byte, 0, 4*(rows+1))
		offsets = binary.LittleEndian.AppendUint32(offsets, 0)
		var data []byte
		for i, v := range values {
			if v != nil {
				b, err := toBytes(v, typ, fmt.Sprintf("%s row %d", what, i))
				if err != nil {
					return col, err
				}
				data = append(data, b...)
			}
			if len(data) > math.MaxInt32 {
				return col, fmt.Errorf("%s: more than 2 GiB of data", what)
			}
			offsets = binary.LittleEndian.AppendUint32(offsets, uint32(len(data)))
		}
		col.Offsets, col.Values = offsets, data
		if col.Values == nil {
			col.Values = []byte{}
		}
	case "bool":
		col.Values = make([]byte, (rows+7)/8)
		for i, v := range values {
			if v == nil {
				continue
			}
			b, err := toBool(v, fmt.Sprintf("%s row %d", what, i))
			if err != nil {
				return col, err
			}
			if b {
				col.Values[i/8] |= 1 << (i % 8)
			}
		}
	default:
		width, ok := typeWidths[typ]
		if !ok {
			return col, fmt.Errorf("%s: unknown type %s", what, typ)
		}
		col.Values = make([]byte, rows*width)
		for i, v := range values {
			if v == nil {
				continue
			}
			raw, err := encodeScalar(v, typ, fmt.Sprintf("%s row %d", what, i))
			if err != nil {
				return col, err
			}
			if width == 4 {
				binary.LittleEndian.PutUint32(col.Values[i*4:], uint32(raw))
			} else {
				binary.LittleEndian.PutUint64(col.Values[i*8:], raw)
			}
		}
	}
	return col, nil
}

func PrepareBatch(spec *Spec, columns [][]any) ([]Column, int, error) {
	if len(columns) != len(spec.Args) {
		return nil, 0, failf("%s takes %d argument(s), got %d columns", spec.Name, len(spec.Args), len(columns))
	}
	rows := 0
	if len(columns) > 0 {
		rows = len(columns[0])
	}
	prepared := make([]Column, len(columns))
	for i, values := range columns {
		if len(values) != rows {
			return nil, 0, failf("%s: the columns have different lengths", spec.Name)
		}
		col, err := PrepareColumn(values, spec.Args[i].Type, "column "+spec.Args[i].Name)
		if err != nil {
			return nil, 0, failf("bad request: %v", err)
		}
		prepared[i] = col
	}
	return prepared, rows, nil
}

type BatchResult struct {
	Values []any
	Errors []any // per row: nil or the message
}

type owned struct{ ptr, size uint32 }

func (h *Host) CallBatch(spec *Spec, columns []Column, rows int) (result *BatchResult, err error) {
	inst, err := h.instance()
	if err != nil {
		return nil, err
	}
	fn, err := h.export(inst, spec.export("batch"))
	if err != nil {
		return nil, err
	}
	var buffers []owned
	defer func() {
		if inst.lost {
			return
		}
		for _, b := range buffers {
			if ferr := h.free(inst, b.ptr, b.size, bufferAlign); ferr != nil && err == nil {
				result, err = nil, ferr
			}
		}
	}()
	put := func(data []byte) (uint32, error) {
		ptr, err := h.allocate(inst, uint32(len(data)), bufferAlign)
		if err != nil {
			return 0, err
		}
		buffers = append(buffers, owned{ptr, uint32(len(data))})
		return ptr, h.write(inst, ptr, data)
	}
	numArgs := len(spec.Args)
	size := headerSize + columnSize*(numArgs+1) + errorsSize
	desc := make([]byte, size)
	le := binary.LittleEndian
	le.PutUint32(desc[0:], abiMajor)
	le.PutUint32(desc[4:], uint32(rows))
	le.PutUint32(desc[8:], uint32(numArgs))
	for i, col := range columns {
		var validity, offsets, values uint32
		if col.Validity != nil {
			if validity, err = put(col.Validity); err != nil {
				return nil, err
			}
		}
		if col.Offsets != nil {
			if offsets, err = put(col.Offsets); err != nil {
				return nil, err
			}
		}
		if values, err = put(col.Values); err != nil {
			return nil, err
		}
		at := desc[headerSize+columnSize*i:]
		for k, field := range []uint32{typeTags[col.Type], validity, offsets, values, uint32(len(col.Values)), 0} {
			le.PutUint32(at[4*k:], field)
		}
	}
	ptr, err := h.allocate(inst, uint32(size), bufferAlign)
	if err != nil {
		return nil, err
	}
	buffers = append(buffers, owned{ptr, uint32(size)})
	if err := h.write(inst, ptr, desc); err != nil {
		return nil, err
	}
	got, err := h.call(inst, fn, uint64(ptr))
	if err != nil {
		return nil, err
	}
	switch status := int32(uint32(got[0])); status {
	case batchOK:
	case batchBadDescriptor:
		return nil, failf("%s__batch refused the batch descriptor (status 1)", spec.Name)
	case batchNoMem:
		return nil, failf("%s__batch could not allocate its output (status 2)", spec.Name)
	default:
		return nil, failf("%s__batch returned status %d, which the ABI does not define", spec.Name, status)
	}
	written, err := h.read(inst, ptr, uint32(size))
	if err != nil {
		return nil, err
	}
	values, err := h.takeResult(inst, written[headerSize+columnSize*numArgs:], spec.Returns.Type, rows)
	if err != nil {
		return nil, err
	}
	errs, err := h.takeErrors(inst, written[headerSize+columnSize*(numArgs+1):], rows)
	if err != nil {
		return nil, err
	}
	return &BatchResult{values, errs}, nil
}

// take copies a guest buffer out and frees it (a pointer of 0: nothing).
func (h *Host) take(inst *instance, ptr, size uint32) ([]byte, error) {
	if ptr == 0 {
		return []byte{}, nil
	}
	data, err := h.read(inst, ptr, size)
	if err != nil {
		return nil, err
	}
	return data, h.free(inst, ptr, size, bufferAlign)
}

func bit(bitmap []byte, i int) bool { return bitmap[i/8]>>(i%8)&1 == 1 }

func (h *Host) takeResult(inst *instance, column []byte, typ string, rows int) ([]any, error) {
	le := binary.LittleEndian
	tag, validity, offsets, valuesPtr, valuesLen := le.Uint32(column), le.Uint32(column[4:]), le.Uint32(column[8:]), le.Uint32(column[12:]), le.Uint32(column[16:])
	if tag != typeTags[typ] {
		return nil, failf("the guest wrote a result column of type tag %d, the manifest says %s", tag, typ)
	}
	bitmapLen := uint32((rows + 7) / 8)
	bitmap, err := h.take(inst, validity, bitmapLen)
	if err != nil {
		return nil, err
	}
	valid := func(i int) bool { return validity == 0 || bit(bitmap, i) }
	var out []any
	if !h.keepColumns {
		out = make([]any, rows)
	}
	if typ == "string" || typ == "bytes" {
		offsetBytes, err := h.take(inst, offsets, uint32(4*(rows+1)))
		if err != nil {
			return nil, err
		}
		data, err := h.take(inst, valuesPtr, valuesLen)
		if err != nil {
			return nil, err
		}
		if len(offsetBytes) < 4*(rows+1) {
			return nil, failf("the guest's result column has no offsets")
		}
		for i := 0; i < rows; i++ {
			start, end := int32(le.Uint32(offsetBytes[4*i:])), int32(le.Uint32(offsetBytes[4*i+4:]))
			if start < 0 || end < start || int(end) > len(data) || (i == 0 && start != 0) {
				return nil, failf("the guest's result offsets are not monotonic within its %d bytes (row %d: %d..%d)", len(data), i, start, end)
			}
			if !valid(i) {
				continue
			}
			value := data[start:end]
			if typ == "string" && !utf8.Valid(value) {
				return nil, failf("the guest's result row %d is not valid UTF-8", i)
			}
			if !h.keepColumns {
				if typ == "bytes" {
					out[i] = value
				} else {
					out[i] = string(value)
				}
			}
		}
		return out, nil
	}
	data, err := h.take(inst, valuesPtr, valuesLen)
	if err != nil {
		return nil, err
	}
	if typ == "bool" {
		if len(data) < int(bitmapLen) {
			return nil, failf("the guest's bool result has %d bytes, %d rows need %d", len(data), rows, bitmapLen)
		}
		if h.keepColumns {
			return out, nil
		}
		for i := 0; i < rows; i++ {
			if valid(i) {
				out[i] = bit(data, i)
			}
		}
		return out, nil
	}
	width := typeWidths[typ]
	if len(data) < rows*width {
		return nil, failf("the guest's %s result has %d bytes, %d rows need %d", typ, len(data), rows, rows*width)
	}
	if h.keepColumns {
		return out, nil
	}
	for i := 0; i < rows; i++ {
		if !valid(i) {
			continue
		}
		if width == 4 {
			out[i] = decodeScalar(uint64(le.Uint32(data[4*i:])), typ)
		} else {
			out[i] = decodeScalar(le.Uint64(data[8*i:]), typ)
		}
	}
	return out, nil
}

func (h *Host) takeErrors(inst *instance, errs []byte, rows int) ([]any, error) {
	le := binary.LittleEndian
	count, bitmapPtr, offsetsPtr, messagesPtr, messagesLen := le.Uint32(errs), le.Uint32(errs[4:]), le.Uint32(errs[8:]), le.Uint32(errs[12:]), le.Uint32(errs[16:])
	out := make([]any, rows)
	if count == 0 {
		return out, nil
	}
	bitmap, err := h.take(inst, bitmapPtr, uint32((rows+7)/8))
	if err != nil {
		return nil, err
	}
	offsetBytes, err := h.take(inst, offsetsPtr, uint32(4*(rows+1)))
	if err != nil {
		return nil, err
	}
	messages, err := h.take(inst, messagesPtr, messagesLen)
	if err != nil {
		return nil, err
	}
	if len(bitmap) < (rows+7)/8 || len(offsetBytes) < 4*(rows+1) {
		return nil, failf("the guest's errors column says %d errors but has no bitmap or offsets", count)
	}
	clamp := func(i int32) int {
		if i < 0 {
			i += int32(len(messages)) // Python slicing, as the reference host reads them
		}
		return max(0, min(int(i), len(messages)))
	}
	marked := 0
	for i := 0; i < rows; i++ {
		if !bit(bitmap, i) {
			continue
		}
		marked++
		start, end := clamp(int32(le.Uint32(offsetBytes[4*i:]))), clamp(int32(le.Uint32(offsetBytes[4*i+4:])))
		if end < start {
			end = start
		}
		out[i] = decodeMessage(messages[start:end])
	}
	if marked != int(count) {
		return nil, failf("the guest's errors column says %d errors but marks %d rows", count, marked)
	}
	return out, nil
}

var errUnknownStyle = errors.New("style is scalar, document or batch")
