/*
 * wasm_qe_udf.h: the C guest SDK for the WASM UDF ABI 1.0 (docs/udf-abi.md).
 *
 * A single header. Include it from every source file of the module; in exactly one of them,
 * define WASMQE_UDF_IMPLEMENTATION before including it: that file gets the allocator and the
 * ABI exports (wasmqe_abi_version, wasmqe_alloc, wasmqe_dealloc).
 *
 *     #define WASMQE_UDF_IMPLEMENTATION
 *     #include "wasm_qe_udf.h"
 *
 * Build (no libc needed; bulk-memory, on by default for wasm32 in clang >= 19, turns memcpy and
 * memset into memory.copy / memory.fill):
 *
 *     clang-22 --target=wasm32 -nostdlib -O2 -I udf/c/include -fuse-ld=lld \
 *         -Wl,--no-entry -Wl,--initial-memory=131072 -Wl,--max-memory=268435456 \
 *         -o my_udf.wasm my_udf.c
 *
 * Every export of this header and of WASMQE_EXPORT carries export_name, so neither
 * --export-dynamic nor --export= is needed. The module imports only the wasmqe_doc functions
 * it calls (wasm-ld imports an undefined symbol only when it is referenced).
 *
 * What the header gives:
 *   - WASMQE_MANIFEST({...json...}): one manifest line in the `wasm-qe-udf` custom section.
 *   - WASMQE_EXPORT(name): export a function under `name`.
 *   - wasmqe_alloc / wasmqe_dealloc / wasmqe_abi_version (implementation file only).
 *   - the wasmqe_doc imports and typed readers (wasmqe_doc_f64, wasmqe_doc_i32, ...) and the
 *     document-style result writers (wasmqe_out_f64, wasmqe_out_string, wasmqe_out_error, ...).
 *   - batch descriptor views (wasmqe_batch, wasmqe_column), checks, typed cell readers and a
 *     result builder that writes the result and errors columns (wasmqe_result_*).
 *   - wasmqe_utf8_next: a UTF-8 decoder (invalid bytes decode as U+FFFD, one byte each, like Go).
 */
#ifndef WASM_QE_UDF_H
#define WASM_QE_UDF_H

#if !defined(__wasm32__)
#error "wasm_qe_udf.h targets wasm32 (clang --target=wasm32)"
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef unsigned char wasmqe_u8;
typedef unsigned int wasmqe_u32;
typedef int wasmqe_i32;
typedef long long wasmqe_i64;
typedef unsigned long long wasmqe_u64;
typedef unsigned long wasmqe_usize; /* 32-bit on wasm32 */

_Static_assert(sizeof(void *) == 4, "wasm32 only");
_Static_assert(sizeof(wasmqe_usize) == 4, "wasm32 only");

/* ------------------------------------------------------------------------------------------ */
/* Versions, exports, the manifest                                                            */
/* ------------------------------------------------------------------------------------------ */

#define WASMQE_ABI_MAJOR 1
#define WASMQE_ABI "1.0"

/* Export a function under `name` (a bare identifier): WASMQE_EXPORT(custom_score) double ... */
#define WASMQE_EXPORT(name) __attribute__((export_name(#name), visibility("default")))

#define WASMQE__STR(x) #x
/*
 * WASMQE_MANIFEST({"abi":"1.0","name":"f",...}) at file scope appends that JSON object and a
 * newline to the custom section `wasm-qe-udf`.
 *
 * How: clang puts a global with __attribute__((section(".custom_section.X"))) into a *data*
 * segment (its section gets the "R" flag), so a C array cannot make a custom section. An
 * assembler section named ".custom_section.X" with no flags is one: LLVM's wasm object writer
 * emits it as custom section X, and wasm-ld concatenates the sections of the same name from
 * all objects (in link order). The payload is exactly the bytes given: no NUL terminator.
 *
 * The JSON is written bare (not as a C string): the preprocessor turns it into a string
 * (#__VA_ARGS__, so commas are fine and nothing in it is macro-expanded), and a second
 * stringification escapes it for the assembler's .ascii. Whitespace between tokens collapses
 * to one space, which JSON ignores. Do not put a `'` or an unbalanced `(` in the JSON.
 */
#define WASMQE_MANIFEST(...) WASMQE__MANIFEST_STR(#__VA_ARGS__)
#define WASMQE__MANIFEST_STR(s)                                                                 \
  __asm__(".section \".custom_section.wasm-qe-udf\",\"\",@\n"                                   \
          ".ascii " WASMQE__STR(s) "\n"                                                        \
          ".ascii \"\\n\"\n"                                                                     \
          ".text\n")

/* ------------------------------------------------------------------------------------------ */
/* Allocator (section 1, [allocator])                                                        */
/* ------------------------------------------------------------------------------------------ */

/* Returns 0 when it cannot allocate (never traps); align must be a power of two <= 8.
 * Every block is 8-aligned; wasmqe_alloc(0, a) returns a distinct non-zero pointer. */
void *wasmqe_alloc(wasmqe_u32 size, wasmqe_u32 align);
/* Frees a block with the size and align it was allocated with; ptr 0 is a no-op. */
void wasmqe_dealloc(void *ptr, wasmqe_u32 size, wasmqe_u32 align);
wasmqe_i32 wasmqe_abi_version(void);

/* ------------------------------------------------------------------------------------------ */
/* Small helpers (no libc)                                                                    */
/* ------------------------------------------------------------------------------------------ */

static inline wasmqe_u32 wasmqe_strlen(const char *s) {
  return (wasmqe_u32)__builtin_strlen(s);
}

/* Decodes one Unicode scalar value at s[*i] (i < n) and advances *i. Invalid UTF-8 (bad lead
 * byte, truncated, overlong, surrogate, > U+10FFFF) yields U+FFFD and advances by one byte,
 * exactly like Go's utf8.DecodeRune, so the C and Go SDKs agree on every input. */
static inline wasmqe_u32 wasmqe_utf8_next(const wasmqe_u8 *s, wasmqe_u32 n, wasmqe_u32 *i) {
  wasmqe_u32 p = *i;
  wasmqe_u32 c0 = s[p];
  if (c0 < 0x80) {
    *i = p + 1;
    return c0;
  }
  wasmqe_u32 need, cp, lo = 0x80, hi = 0xBF;
  if (c0 >= 0xC2 && c0 <= 0xDF) {
    need = 1;
    cp = c0 & 0x1F;
  } else if (c0 >= 0xE0 && c0 <= 0xEF) {
    need = 2;
    cp = c0 & 0x0F;
    if (c0 == 0xE0) lo = 0xA0;
    if (c0 == 0xED) hi = 0x9F; /* no surrogates */
  } else if (c0 >= 0xF0 && c0 <= 0xF4) {
    need = 3;
    cp = c0 & 0x07;
    if (c0 == 0xF0) lo = 0x90;
    if (c0 == 0xF4) hi = 0x8F; /* <= U+10FFFF */
  } else {
    *i = p + 1;
    return 0xFFFD;
  }
  if (n - p - 1 < need) {
    *i = p + 1;
    return 0xFFFD;
  }
  for (wasmqe_u32 k = 1; k <= need; k++) {
    wasmqe_u32 c = s[p + k];
    if (c < lo || c > hi) {
      *i = p + 1;
      return 0xFFFD;
    }
    lo = 0x80;
    hi = 0xBF;
    cp = (cp << 6) | (c & 0x3F);
  }
  *i = p + 1 + need;
  return cp;
}

/* ------------------------------------------------------------------------------------------ */
/* Document style (section 4)                                                                 */
/* ------------------------------------------------------------------------------------------ */

typedef wasmqe_i32 wasmqe_doc_t;

/* Result statuses of a name__doc export. */
#define WASMQE_OK 0
#define WASMQE_NULL 1
#define WASMQE_ERROR 2

/* Statuses of the wasmqe_doc get_* imports. */
#define WASMQE_GET_OK 0
#define WASMQE_GET_NULL 1
#define WASMQE_GET_WRONG_TYPE 2
#define WASMQE_GET_NO_MEMORY 3
#define WASMQE_GET_BAD_HANDLE (-1)

#define WASMQE__DOC_IMPORT(n) __attribute__((import_module("wasmqe_doc"), import_name(#n)))
WASMQE__DOC_IMPORT(has_field)
wasmqe_i32 wasmqe_doc_has_field(wasmqe_doc_t doc, const char *name, wasmqe_u32 name_len);
WASMQE__DOC_IMPORT(get_i64)
wasmqe_i32 wasmqe_doc_get_i64(wasmqe_doc_t doc, const char *name, wasmqe_u32 name_len,
                              wasmqe_i64 *out);
WASMQE__DOC_IMPORT(get_f64)
wasmqe_i32 wasmqe_doc_get_f64(wasmqe_doc_t doc, const char *name, wasmqe_u32 name_len,
                              double *out);
WASMQE__DOC_IMPORT(get_bool)
wasmqe_i32 wasmqe_doc_get_bool(wasmqe_doc_t doc, const char *name, wasmqe_u32 name_len,
                               wasmqe_i32 *out);
/* out receives {ptr, len}: bytes the host allocated with wasmqe_alloc(len, 1); the guest owns
 * them and frees them with wasmqe_dealloc(ptr, len, 1) (or wasmqe_free_bytes). */
WASMQE__DOC_IMPORT(get_string)
wasmqe_i32 wasmqe_doc_get_string(wasmqe_doc_t doc, const char *name, wasmqe_u32 name_len,
                                 wasmqe_u32 out[2]);
WASMQE__DOC_IMPORT(get_bytes)
wasmqe_i32 wasmqe_doc_get_bytes(wasmqe_doc_t doc, const char *name, wasmqe_u32 name_len,
                                wasmqe_u32 out[2]);
#undef WASMQE__DOC_IMPORT

/*
 * Typed readers by field name (a NUL-terminated string). They return WASMQE_GET_OK (value
 * written), WASMQE_GET_NULL (absent or null) or WASMQE_GET_WRONG_TYPE (another type, or an
 * integer out of range for wasmqe_doc_i32 / a non-0/1 bool). A bad handle or a host that could
 * not allocate in guest memory is a trap: the first is a host bug, the second means the guest's
 * memory is exhausted (docs/udf-abi.md section 6).
 */
static inline wasmqe_i32 wasmqe__get_status(wasmqe_i32 st) {
  if (st == WASMQE_GET_OK || st == WASMQE_GET_NULL || st == WASMQE_GET_WRONG_TYPE) return st;
  __builtin_trap();
}

static inline wasmqe_i32 wasmqe_doc_f64(wasmqe_doc_t doc, const char *name, double *out) {
  return wasmqe__get_status(wasmqe_doc_get_f64(doc, name, wasmqe_strlen(name), out));
}

static inline wasmqe_i32 wasmqe_doc_f32(wasmqe_doc_t doc, const char *name, float *out) {
  double v;
  wasmqe_i32 st = wasmqe__get_status(wasmqe_doc_get_f64(doc, name, wasmqe_strlen(name), &v));
  if (st == WASMQE_GET_OK) *out = (float)v;
  return st;
}

static inline wasmqe_i32 wasmqe_doc_i64(wasmqe_doc_t doc, const char *name, wasmqe_i64 *out) {
  return wasmqe__get_status(wasmqe_doc_get_i64(doc, name, wasmqe_strlen(name), out));
}

static inline wasmqe_i32 wasmqe_doc_i32(wasmqe_doc_t doc, const char *name, wasmqe_i32 *out) {
  wasmqe_i64 v;
  wasmqe_i32 st = wasmqe__get_status(wasmqe_doc_get_i64(doc, name, wasmqe_strlen(name), &v));
  if (st != WASMQE_GET_OK) return st;
  if (v < -2147483647LL - 1 || v > 2147483647LL) return WASMQE_GET_WRONG_TYPE;
  *out = (wasmqe_i32)v;
  return WASMQE_GET_OK;
}

static inline wasmqe_i32 wasmqe_doc_bool(wasmqe_doc_t doc, const char *name, wasmqe_i32 *out) {
  wasmqe_i32 v;
  wasmqe_i32 st = wasmqe__get_status(wasmqe_doc_get_bool(doc, name, wasmqe_strlen(name), &v));
  if (st != WASMQE_GET_OK) return st;
  if (v != 0 && v != 1) return WASMQE_GET_WRONG_TYPE;
  *out = v;
  return WASMQE_GET_OK;
}

/* A string or bytes field: *ptr and *len receive a guest-owned buffer (free it with
 * wasmqe_free_bytes(ptr, len); a ptr of 0 is accepted there). */
static inline wasmqe_i32 wasmqe_doc_string(wasmqe_doc_t doc, const char *name,
                                           wasmqe_u8 **ptr, wasmqe_u32 *len) {
  wasmqe_u32 cell[2] __attribute__((aligned(8))) = {0, 0};
  wasmqe_i32 st = wasmqe__get_status(wasmqe_doc_get_string(doc, name, wasmqe_strlen(name), cell));
  if (st != WASMQE_GET_OK) return st;
  *ptr = (wasmqe_u8 *)(wasmqe_usize)cell[0];
  *len = cell[1];
  return WASMQE_GET_OK;
}

static inline wasmqe_i32 wasmqe_doc_bytes(wasmqe_doc_t doc, const char *name,
                                          wasmqe_u8 **ptr, wasmqe_u32 *len) {
  wasmqe_u32 cell[2] __attribute__((aligned(8))) = {0, 0};
  wasmqe_i32 st = wasmqe__get_status(wasmqe_doc_get_bytes(doc, name, wasmqe_strlen(name), cell));
  if (st != WASMQE_GET_OK) return st;
  *ptr = (wasmqe_u8 *)(wasmqe_usize)cell[0];
  *len = cell[1];
  return WASMQE_GET_OK;
}

static inline void wasmqe_free_bytes(void *ptr, wasmqe_u32 len) {
  wasmqe_dealloc(ptr, len, 1);
}

/* Result cell writers: `out` is the 16-byte, 8-aligned cell; each returns the status to return
 * from the name__doc export. */
static inline wasmqe_i32 wasmqe_out_f64(void *out, double v) {
  *(double *)out = v;
  return WASMQE_OK;
}
static inline wasmqe_i32 wasmqe_out_f32(void *out, float v) {
  *(float *)out = v;
  return WASMQE_OK;
}
static inline wasmqe_i32 wasmqe_out_i64(void *out, wasmqe_i64 v) {
  *(wasmqe_i64 *)out = v;
  return WASMQE_OK;
}
static inline wasmqe_i32 wasmqe_out_timestamp(void *out, wasmqe_i64 micros) {
  *(wasmqe_i64 *)out = micros;
  return WASMQE_OK;
}
static inline wasmqe_i32 wasmqe_out_i32(void *out, wasmqe_i32 v) {
  *(wasmqe_i32 *)out = v;
  return WASMQE_OK;
}
static inline wasmqe_i32 wasmqe_out_bool(void *out, int v) {
  *(wasmqe_i32 *)out = v ? 1 : 0;
  return WASMQE_OK;
}
static inline wasmqe_i32 wasmqe_out_null(void *out) {
  (void)out;
  return WASMQE_NULL;
}
/* Copies len bytes into a buffer from wasmqe_alloc(len, 1) that the host will own. Traps when
 * the guest is out of memory (a document call has no "could not allocate" status). */
static inline wasmqe_i32 wasmqe__out_buffer(void *out, const void *data, wasmqe_u32 len,
                                            wasmqe_i32 status) {
  wasmqe_u8 *p = (wasmqe_u8 *)wasmqe_alloc(len, 1);
  if (!p) __builtin_trap();
  if (len) __builtin_memcpy(p, data, len);
  ((wasmqe_u32 *)out)[0] = (wasmqe_u32)(wasmqe_usize)p;
  ((wasmqe_u32 *)out)[1] = len;
  return status;
}
static inline wasmqe_i32 wasmqe_out_string(void *out, const void *utf8, wasmqe_u32 len) {
  return wasmqe__out_buffer(out, utf8, len, WASMQE_OK);
}
static inline wasmqe_i32 wasmqe_out_bytes(void *out, const void *data, wasmqe_u32 len) {
  return wasmqe__out_buffer(out, data, len, WASMQE_OK);
}
/* A per-row error (status 2) with a NUL-terminated UTF-8 message. */
static inline wasmqe_i32 wasmqe_out_error(void *out, const char *message) {
  return wasmqe__out_buffer(out, message, wasmqe_strlen(message), WASMQE_ERROR);
}

/* ------------------------------------------------------------------------------------------ */
/* Batch style (section 5)                                                                    */
/* ------------------------------------------------------------------------------------------ */

#define WASMQE_TYPE_BOOL 1
#define WASMQE_TYPE_I32 2
#define WASMQE_TYPE_I64 3
#define WASMQE_TYPE_F32 4
#define WASMQE_TYPE_F64 5
#define WASMQE_TYPE_STRING 6
#define WASMQE_TYPE_BYTES 7
#define WASMQE_TYPE_TIMESTAMP 8

/* Statuses of a name__batch export. */
#define WASMQE_BATCH_OK 0
#define WASMQE_BATCH_MISMATCH 1
#define WASMQE_BATCH_NO_MEMORY 2

typedef struct wasmqe_column {
  wasmqe_u32 type;
  wasmqe_u32 validity;   /* bitmap; 0 = no NULLs */
  wasmqe_u32 offsets;    /* string/bytes: i32[num_rows + 1] */
  wasmqe_u32 values;
  wasmqe_u32 values_len;
  wasmqe_u32 reserved;
} wasmqe_column;

typedef struct wasmqe_errors {
  wasmqe_u32 error_count;
  wasmqe_u32 rows;       /* bitmap */
  wasmqe_u32 offsets;    /* i32[num_rows + 1] into messages */
  wasmqe_u32 messages;
  wasmqe_u32 messages_len;
  wasmqe_u32 reserved;
} wasmqe_errors;

typedef struct wasmqe_batch {
  wasmqe_u32 abi_major;
  wasmqe_u32 num_rows;
  wasmqe_u32 num_args;
  wasmqe_u32 reserved;
  wasmqe_column columns[]; /* args[num_args], then result, then the errors block */
} wasmqe_batch;

_Static_assert(sizeof(wasmqe_column) == 24, "column layout");
_Static_assert(sizeof(wasmqe_errors) == 24, "errors layout");
_Static_assert(sizeof(wasmqe_batch) == 16, "descriptor header layout");

static inline wasmqe_column *wasmqe_batch_arg(wasmqe_batch *b, wasmqe_u32 k) {
  return &b->columns[k];
}
static inline wasmqe_column *wasmqe_batch_result(wasmqe_batch *b) {
  return &b->columns[b->num_args];
}
static inline wasmqe_errors *wasmqe_batch_errors(wasmqe_batch *b) {
  return (wasmqe_errors *)&b->columns[b->num_args + 1];
}

static inline wasmqe_u32 wasmqe_bitmap_bytes(wasmqe_u32 num_rows) {
  return (num_rows + 7) / 8;
}
static inline int wasmqe_bit(wasmqe_u32 bitmap, wasmqe_u32 i) {
  return (((const wasmqe_u8 *)(wasmqe_usize)bitmap)[i >> 3] >> (i & 7)) & 1;
}
static inline wasmqe_u32 wasmqe_type_width(wasmqe_u32 type) {
  switch (type) {
    case WASMQE_TYPE_I32: case WASMQE_TYPE_F32: return 4;
    case WASMQE_TYPE_I64: case WASMQE_TYPE_F64: case WASMQE_TYPE_TIMESTAMP: return 8;
    default: return 0; /* bool (bitmap), string, bytes */
  }
}

/* Whether row i of a column is not NULL. */
static inline int wasmqe_col_valid(const wasmqe_column *c, wasmqe_u32 i) {
  return c->validity == 0 || wasmqe_bit(c->validity, i);
}
/* Whether every one of the first n columns is not NULL at row i (strict functions). */
static inline int wasmqe_cols_valid(const wasmqe_column *cols, wasmqe_u32 n, wasmqe_u32 i) {
  for (wasmqe_u32 k = 0; k < n; k++)
    if (!wasmqe_col_valid(&cols[k], i)) return 0;
  return 1;
}
static inline double wasmqe_col_f64(const wasmqe_column *c, wasmqe_u32 i) {
  return ((const double *)(wasmqe_usize)c->values)[i];
}
static inline float wasmqe_col_f32(const wasmqe_column *c, wasmqe_u32 i) {
  return ((const float *)(wasmqe_usize)c->values)[i];
}
static inline wasmqe_i64 wasmqe_col_i64(const wasmqe_column *c, wasmqe_u32 i) {
  return ((const wasmqe_i64 *)(wasmqe_usize)c->values)[i];
}
static inline wasmqe_i32 wasmqe_col_i32(const wasmqe_column *c, wasmqe_u32 i) {
  return ((const wasmqe_i32 *)(wasmqe_usize)c->values)[i];
}
static inline int wasmqe_col_bool(const wasmqe_column *c, wasmqe_u32 i) {
  return wasmqe_bit(c->values, i);
}
/* String/bytes row i: a view into the host's buffer (valid during the call). */
static inline const wasmqe_u8 *wasmqe_col_str(const wasmqe_column *c, wasmqe_u32 i,
                                              wasmqe_u32 *len) {
  const wasmqe_i32 *off = (const wasmqe_i32 *)(wasmqe_usize)c->offsets;
  *len = (wasmqe_u32)(off[i + 1] - off[i]);
  return (const wasmqe_u8 *)(wasmqe_usize)c->values + off[i];
}

/*
 * Checks a descriptor against the manifest record: abi_major 1, num_args == n, the types of
 * the argument columns, non-zero buffers where rows need them, fixed-width values_len, and
 * offsets that start at 0, never decrease and end at values_len. Returns WASMQE_BATCH_OK or
 * WASMQE_BATCH_MISMATCH (return that from the export: nothing was written).
 */
static inline wasmqe_i32 wasmqe_batch_check(const wasmqe_batch *b, wasmqe_u32 n,
                                            const wasmqe_u32 *types) {
  if (b == 0 || b->abi_major != WASMQE_ABI_MAJOR || b->num_args != n)
    return WASMQE_BATCH_MISMATCH;
  wasmqe_u32 rows = b->num_rows;
  for (wasmqe_u32 k = 0; k < n; k++) {
    const wasmqe_column *c = &b->columns[k];
    if (c->type != types[k]) return WASMQE_BATCH_MISMATCH;
    if (c->type == WASMQE_TYPE_STRING || c->type == WASMQE_TYPE_BYTES) {
      if (c->offsets == 0) return WASMQE_BATCH_MISMATCH;
      if (c->values == 0 && c->values_len != 0) return WASMQE_BATCH_MISMATCH;
      const wasmqe_i32 *off = (const wasmqe_i32 *)(wasmqe_usize)c->offsets;
      if (off[0] != 0) return WASMQE_BATCH_MISMATCH;
      for (wasmqe_u32 i = 0; i < rows; i++)
        if (off[i + 1] < off[i]) return WASMQE_BATCH_MISMATCH;
      if ((wasmqe_u32)off[rows] > c->values_len) return WASMQE_BATCH_MISMATCH;
    } else {
      wasmqe_u32 w = wasmqe_type_width(c->type);
      wasmqe_u64 need = w ? (wasmqe_u64)rows * w : wasmqe_bitmap_bytes(rows);
      if (c->values_len != need) return WASMQE_BATCH_MISMATCH;
      if (need != 0 && c->values == 0) return WASMQE_BATCH_MISMATCH;
      if (w && (c->values & (w - 1))) return WASMQE_BATCH_MISMATCH;
    }
  }
  return WASMQE_BATCH_OK;
}

/*
 * The result builder: fills a result column (any type) and the errors block, then hands them
 * to the host with wasmqe_result_finish. All its buffers come from wasmqe_alloc(size, 8) with
 * exactly the sizes the host frees them with.
 *
 *   wasmqe_result r;
 *   if (!wasmqe_result_init(&r, WASMQE_TYPE_F64, b->num_rows)) return WASMQE_BATCH_NO_MEMORY;
 *   for (i...) { ... wasmqe_result_f64(&r, i, v) / wasmqe_result_null(&r, i) /
 *                    wasmqe_result_error(&r, i, "msg") ... }
 *   return wasmqe_result_finish(&r, b);
 *
 * Fixed-width and bool rows may be set in any order; string/bytes rows must be appended in
 * row order (wasmqe_result_string for row i after rows 0..i-1; a NULL or error row appends
 * nothing and may be skipped). If a setter returns 0 (out of memory), call
 * wasmqe_result_abort and return WASMQE_BATCH_NO_MEMORY.
 */
typedef struct wasmqe_growbuf {
  wasmqe_u8 *ptr;
  wasmqe_u32 len, cap;
} wasmqe_growbuf;

typedef struct wasmqe_result {
  wasmqe_u32 type, num_rows;
  wasmqe_u8 *validity;    /* ceil(n/8), all 1 at first */
  wasmqe_u8 *values;      /* fixed width / bool bitmap */
  wasmqe_u32 values_len;
  wasmqe_i32 *offsets;    /* string/bytes */
  wasmqe_u32 next_row;    /* string/bytes: rows whose offsets are final */
  wasmqe_growbuf data;    /* string/bytes values */
  wasmqe_u32 error_count;
  wasmqe_u8 *error_rows;
  wasmqe_i32 *error_offsets;
  wasmqe_u32 error_next_row;
  wasmqe_growbuf messages;
} wasmqe_result;

int wasmqe_result_init(wasmqe_result *r, wasmqe_u32 type, wasmqe_u32 num_rows);
void wasmqe_result_null(wasmqe_result *r, wasmqe_u32 row);
void wasmqe_result_f64(wasmqe_result *r, wasmqe_u32 row, double v);
void wasmqe_result_f32(wasmqe_result *r, wasmqe_u32 row, float v);
void wasmqe_result_i64(wasmqe_result *r, wasmqe_u32 row, wasmqe_i64 v);
void wasmqe_result_i32(wasmqe_result *r, wasmqe_u32 row, wasmqe_i32 v);
void wasmqe_result_bool(wasmqe_result *r, wasmqe_u32 row, int v);
/* string/bytes; returns 0 when out of memory */
int wasmqe_result_string(wasmqe_result *r, wasmqe_u32 row, const void *data, wasmqe_u32 len);
/* marks the row failed (its result becomes NULL); returns 0 when out of memory */
int wasmqe_result_error(wasmqe_result *r, wasmqe_u32 row, const char *message);
int wasmqe_result_error_n(wasmqe_result *r, wasmqe_u32 row, const char *message,
                          wasmqe_u32 len);
/* writes the result column and errors block into the descriptor; returns the batch status */
wasmqe_i32 wasmqe_result_finish(wasmqe_result *r, wasmqe_batch *b);
void wasmqe_result_abort(wasmqe_result *r);

#ifdef __cplusplus
}
#endif

/* ========================================================================================== */
/* Implementation                                                                             */
/* ========================================================================================== */
#ifdef WASMQE_UDF_IMPLEMENTATION

#ifdef __cplusplus
extern "C" {
#endif

extern unsigned char __heap_base; /* wasm-ld: the first byte after the stack and data */

/*
 * The few libc functions the compiler itself may call: at -Os/-Oz a strlen of a non-constant
 * string stays a call, loop-idiom recognition turns byte loops into strlen/memcmp/bcmp calls,
 * and without bulk-memory (-mcpu=mvp) memcpy/memset/memmove are calls too. Weak and hidden:
 * a real libc linked beside wins, and none of them is exported. no_builtin keeps their own
 * loops from turning back into calls to themselves. Define WASMQE_NO_LIBC_SHIMS to leave
 * them out.
 */
#ifndef WASMQE_NO_LIBC_SHIMS
#define WASMQE__SHIM __attribute__((weak, visibility("hidden"), no_builtin))
WASMQE__SHIM wasmqe_usize strlen(const char *s) {
  wasmqe_usize n = 0;
  while (s[n]) n++;
  return n;
}
WASMQE__SHIM int memcmp(const void *a, const void *b, wasmqe_usize n) {
  const wasmqe_u8 *x = (const wasmqe_u8 *)a, *y = (const wasmqe_u8 *)b;
  for (wasmqe_usize i = 0; i < n; i++)
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  return 0;
}
WASMQE__SHIM int bcmp(const void *a, const void *b, wasmqe_usize n) { return memcmp(a, b, n); }
#ifndef __wasm_bulk_memory__
WASMQE__SHIM void *memcpy(void *d, const void *s, wasmqe_usize n) {
  wasmqe_u8 *x = (wasmqe_u8 *)d;
  const wasmqe_u8 *y = (const wasmqe_u8 *)s;
  for (wasmqe_usize i = 0; i < n; i++) x[i] = y[i];
  return d;
}
WASMQE__SHIM void *memmove(void *d, const void *s, wasmqe_usize n) {
  wasmqe_u8 *x = (wasmqe_u8 *)d;
  const wasmqe_u8 *y = (const wasmqe_u8 *)s;
  if (x < y)
    for (wasmqe_usize i = 0; i < n; i++) x[i] = y[i];
  else
    for (wasmqe_usize i = n; i > 0; i--) x[i - 1] = y[i - 1];
  return d;
}
WASMQE__SHIM void *memset(void *d, int c, wasmqe_usize n) {
  wasmqe_u8 *x = (wasmqe_u8 *)d;
  for (wasmqe_usize i = 0; i < n; i++) x[i] = (wasmqe_u8)c;
  return d;
}
#endif
#undef WASMQE__SHIM
#endif /* WASMQE_NO_LIBC_SHIMS */

__attribute__((export_name("wasmqe_abi_version"))) wasmqe_i32 wasmqe_abi_version(void) {
  return WASMQE_ABI_MAJOR;
}

/*
 * Size classes: a block of class c holds 8 << c bytes (8 B .. 64 KiB) and freed blocks go to
 * the free list of their class. Larger blocks are whole multiples of 64 KiB, kept in one
 * first-fit list sorted by address (a bigger free block is split; adjacent free blocks are
 * merged, and a free block at the top of the heap goes back to the bump pointer). The caller passes the size back on free, so
 * blocks carry no header; a free block stores {next, size} in its first 8 bytes. Fresh blocks
 * come from a bump pointer that starts at __heap_base and grows memory with memory.grow.
 */
#define WASMQE__SMALL_CLASSES 14u
#define WASMQE__LARGE_UNIT 65536u
static wasmqe_usize wasmqe__free_small[WASMQE__SMALL_CLASSES];
static wasmqe_usize wasmqe__free_large;
static wasmqe_usize wasmqe__bump;

static wasmqe_usize wasmqe__bump_alloc(wasmqe_u32 n) {
  if (wasmqe__bump == 0) wasmqe__bump = ((wasmqe_usize)&__heap_base + 7u) & ~(wasmqe_usize)7u;
  wasmqe_u64 end = (wasmqe_u64)__builtin_wasm_memory_size(0) * 65536u;
  wasmqe_u64 want = (wasmqe_u64)wasmqe__bump + n;
  if (want > end) {
    wasmqe_u64 pages = (want - end + 65535u) / 65536u;
    if (pages > 65536u) return 0;
    if (__builtin_wasm_memory_grow(0, (wasmqe_usize)pages) == (wasmqe_usize)-1) return 0;
  }
  wasmqe_usize p = wasmqe__bump;
  wasmqe__bump = (wasmqe_usize)want; /* want <= 4 GiB - 1 here: memory is at most 4 GiB */
  return p;
}

static wasmqe_u32 wasmqe__class(wasmqe_u32 size) {
  wasmqe_u32 c = 0;
  while ((8u << c) < size) c++;
  return c;
}

__attribute__((export_name("wasmqe_alloc"))) void *wasmqe_alloc(wasmqe_u32 size,
                                                                 wasmqe_u32 align) {
  if (align == 0 || (align & (align - 1)) != 0 || align > 8) return 0;
  if (size <= (8u << (WASMQE__SMALL_CLASSES - 1))) {
    wasmqe_u32 c = wasmqe__class(size);
    wasmqe_usize p = wasmqe__free_small[c];
    if (p) {
      wasmqe__free_small[c] = *(wasmqe_usize *)p;
      return (void *)p;
    }
    return (void *)wasmqe__bump_alloc(8u << c);
  }
  if (size > 0xFFFFFFFFu - (WASMQE__LARGE_UNIT - 1)) return 0;
  wasmqe_u32 n = (size + WASMQE__LARGE_UNIT - 1) & ~(WASMQE__LARGE_UNIT - 1);
  wasmqe_usize *link = &wasmqe__free_large;
  while (*link) {
    wasmqe_usize b = *link;
    wasmqe_u32 bsize = ((wasmqe_u32 *)b)[1];
    if (bsize >= n) {
      if (bsize == n) {
        *link = *(wasmqe_usize *)b;
      } else { /* keep the tail in the list, in b's place */
        wasmqe_usize tail = b + n;
        *(wasmqe_usize *)tail = *(wasmqe_usize *)b;
        ((wasmqe_u32 *)tail)[1] = bsize - n;
        *link = tail;
      }
      return (void *)b;
    }
    link = (wasmqe_usize *)b;
  }
  return (void *)wasmqe__bump_alloc(n);
}

__attribute__((export_name("wasmqe_dealloc"))) void wasmqe_dealloc(void *ptr, wasmqe_u32 size,
                                                                   wasmqe_u32 align) {
  (void)align;
  wasmqe_usize p = (wasmqe_usize)ptr;
  if (p == 0) return;
  if (size <= (8u << (WASMQE__SMALL_CLASSES - 1))) {
    wasmqe_u32 c = wasmqe__class(size);
    *(wasmqe_usize *)p = wasmqe__free_small[c];
    wasmqe__free_small[c] = p;
    return;
  }
  wasmqe_u32 n = (size + WASMQE__LARGE_UNIT - 1) & ~(WASMQE__LARGE_UNIT - 1);
  /* the large list is sorted by address; merge with free neighbours */
  wasmqe_usize *link = &wasmqe__free_large, prev = 0;
  while (*link && *link < p) {
    prev = *link;
    link = (wasmqe_usize *)prev;
  }
  wasmqe_usize next = *link;
  if (next && p + n == next) { /* absorb the next block */
    n += ((wasmqe_u32 *)next)[1];
    next = *(wasmqe_usize *)next;
  }
  wasmqe_usize *owner = link; /* the link that will point to the merged block */
  if (prev && prev + ((wasmqe_u32 *)prev)[1] == p) { /* join the previous block */
    n += ((wasmqe_u32 *)prev)[1];
    p = prev;
    owner = 0;
  }
  *(wasmqe_usize *)p = next;
  ((wasmqe_u32 *)p)[1] = n;
  if (owner) *owner = p;
  if (p + n == wasmqe__bump) { /* the top of the heap: give it back to the bump pointer */
    wasmqe_usize *l = &wasmqe__free_large;
    while (*l != p) l = (wasmqe_usize *)*l;
    *l = 0; /* p is the last block: every other free block lies below it */
    wasmqe__bump = p;
  }
}

/* ---- result builder ---- */

static int wasmqe__grow(wasmqe_growbuf *g, wasmqe_u32 extra) {
  if (extra <= g->cap - g->len) return 1;
  if (extra > 0x7FFFFFFFu - g->len) return 0;
  wasmqe_u32 need = g->len + extra;
  wasmqe_u32 cap = g->cap ? g->cap : 64;
  while (cap < need) cap = cap > 0x40000000u ? need : cap * 2;
  wasmqe_u8 *p = (wasmqe_u8 *)wasmqe_alloc(cap, 8);
  if (!p) return 0;
  if (g->len) __builtin_memcpy(p, g->ptr, g->len);
  wasmqe_dealloc(g->ptr, g->cap, 8);
  g->ptr = p;
  g->cap = cap;
  return 1;
}

static void wasmqe__growbuf_free(wasmqe_growbuf *g) {
  wasmqe_dealloc(g->ptr, g->cap, 8);
  g->ptr = 0;
  g->len = g->cap = 0;
}

/* An exact-size copy (the size the host frees with); 0 on failure. */
static wasmqe_u8 *wasmqe__exact(const wasmqe_growbuf *g) {
  wasmqe_u8 *p = (wasmqe_u8 *)wasmqe_alloc(g->len, 8);
  if (p && g->len) __builtin_memcpy(p, g->ptr, g->len);
  return p;
}

int wasmqe_result_init(wasmqe_result *r, wasmqe_u32 type, wasmqe_u32 num_rows) {
  __builtin_memset(r, 0, sizeof *r);
  if (type < WASMQE_TYPE_BOOL || type > WASMQE_TYPE_TIMESTAMP) return 0;
  if (num_rows > 0x1FFFFFFEu) return 0;
  r->type = type;
  r->num_rows = num_rows;
  wasmqe_u32 bm = wasmqe_bitmap_bytes(num_rows);
  r->validity = (wasmqe_u8 *)wasmqe_alloc(bm, 8);
  if (!r->validity) goto fail;
  __builtin_memset(r->validity, 0xFF, bm);
  if (type == WASMQE_TYPE_STRING || type == WASMQE_TYPE_BYTES) {
    r->offsets = (wasmqe_i32 *)wasmqe_alloc(4 * (num_rows + 1), 8);
    if (!r->offsets) goto fail;
    r->offsets[0] = 0;
  } else {
    wasmqe_u32 w = wasmqe_type_width(type);
    r->values_len = w ? num_rows * w : bm;
    r->values = (wasmqe_u8 *)wasmqe_alloc(r->values_len, 8);
    if (!r->values) goto fail;
    __builtin_memset(r->values, 0, r->values_len);
  }
  return 1;
fail:
  wasmqe_result_abort(r);
  return 0;
}

/* string/bytes: rows before `row` that were skipped get empty values */
static void wasmqe__fill_offsets(wasmqe_result *r, wasmqe_u32 row) {
  while (r->next_row < row) {
    r->offsets[r->next_row + 1] = (wasmqe_i32)r->data.len;
    r->next_row++;
  }
}

void wasmqe_result_null(wasmqe_result *r, wasmqe_u32 row) {
  r->validity[row >> 3] &= (wasmqe_u8)~(1u << (row & 7));
}
void wasmqe_result_f64(wasmqe_result *r, wasmqe_u32 row, double v) {
  ((double *)r->values)[row] = v;
}
void wasmqe_result_f32(wasmqe_result *r, wasmqe_u32 row, float v) {
  ((float *)r->values)[row] = v;
}
void wasmqe_result_i64(wasmqe_result *r, wasmqe_u32 row, wasmqe_i64 v) {
  ((wasmqe_i64 *)r->values)[row] = v;
}
void wasmqe_result_i32(wasmqe_result *r, wasmqe_u32 row, wasmqe_i32 v) {
  ((wasmqe_i32 *)r->values)[row] = v;
}
void wasmqe_result_bool(wasmqe_result *r, wasmqe_u32 row, int v) {
  if (v)
    r->values[row >> 3] |= (wasmqe_u8)(1u << (row & 7));
  else
    r->values[row >> 3] &= (wasmqe_u8)~(1u << (row & 7));
}
int wasmqe_result_string(wasmqe_result *r, wasmqe_u32 row, const void *data, wasmqe_u32 len) {
  if (row < r->next_row) __builtin_trap(); /* out of order: a bug in the UDF */
  wasmqe__fill_offsets(r, row);
  if (!wasmqe__grow(&r->data, len)) return 0;
  if (len) __builtin_memcpy(r->data.ptr + r->data.len, data, len);
  r->data.len += len;
  r->offsets[row + 1] = (wasmqe_i32)r->data.len;
  r->next_row = row + 1;
  return 1;
}

int wasmqe_result_error_n(wasmqe_result *r, wasmqe_u32 row, const char *message,
                          wasmqe_u32 len) {
  wasmqe_u32 n = r->num_rows;
  if (!r->error_rows) {
    wasmqe_u32 bm = wasmqe_bitmap_bytes(n);
    r->error_rows = (wasmqe_u8 *)wasmqe_alloc(bm, 8);
    r->error_offsets = (wasmqe_i32 *)wasmqe_alloc(4 * (n + 1), 8);
    if (!r->error_rows || !r->error_offsets) {
      wasmqe_dealloc(r->error_rows, bm, 8);
      wasmqe_dealloc(r->error_offsets, 4 * (n + 1), 8);
      r->error_rows = 0;
      r->error_offsets = 0;
      return 0;
    }
    __builtin_memset(r->error_rows, 0, bm);
    r->error_offsets[0] = 0;
  }
  if (row < r->error_next_row) __builtin_trap(); /* errors are reported in row order */
  while (r->error_next_row < row) {
    r->error_offsets[r->error_next_row + 1] = (wasmqe_i32)r->messages.len;
    r->error_next_row++;
  }
  if (!wasmqe__grow(&r->messages, len)) return 0;
  if (len) __builtin_memcpy(r->messages.ptr + r->messages.len, message, len);
  r->messages.len += len;
  r->error_offsets[row + 1] = (wasmqe_i32)r->messages.len;
  r->error_next_row = row + 1;
  r->error_rows[row >> 3] |= (wasmqe_u8)(1u << (row & 7));
  r->error_count++;
  wasmqe_result_null(r, row);
  return 1;
}

int wasmqe_result_error(wasmqe_result *r, wasmqe_u32 row, const char *message) {
  return wasmqe_result_error_n(r, row, message, wasmqe_strlen(message));
}

void wasmqe_result_abort(wasmqe_result *r) {
  wasmqe_u32 n = r->num_rows, bm = wasmqe_bitmap_bytes(n);
  wasmqe_dealloc(r->validity, bm, 8);
  wasmqe_dealloc(r->values, r->values_len, 8);
  wasmqe_dealloc(r->offsets, 4 * (n + 1), 8);
  wasmqe__growbuf_free(&r->data);
  wasmqe_dealloc(r->error_rows, bm, 8);
  wasmqe_dealloc(r->error_offsets, 4 * (n + 1), 8);
  wasmqe__growbuf_free(&r->messages);
  __builtin_memset(r, 0, sizeof *r);
}

wasmqe_i32 wasmqe_result_finish(wasmqe_result *r, wasmqe_batch *b) {
  wasmqe_u32 n = r->num_rows, bm = wasmqe_bitmap_bytes(n);
  wasmqe_u8 *data = 0, *messages = 0;
  if (r->offsets) {
    wasmqe__fill_offsets(r, n);
    data = wasmqe__exact(&r->data);
    if (!data) goto oom;
  }
  if (r->error_count) {
    while (r->error_next_row < n) {
      r->error_offsets[r->error_next_row + 1] = (wasmqe_i32)r->messages.len;
      r->error_next_row++;
    }
    messages = wasmqe__exact(&r->messages);
    if (!messages) goto oom;
  }
  /* nothing can fail from here on */
  int all_valid = 1;
  for (wasmqe_u32 i = 0; i < n; i++)
    if (!wasmqe_bit((wasmqe_u32)(wasmqe_usize)r->validity, i)) {
      all_valid = 0;
      break;
    }
  wasmqe_column *out = wasmqe_batch_result(b);
  out->type = r->type;
  out->validity = all_valid ? 0 : (wasmqe_u32)(wasmqe_usize)r->validity;
  if (all_valid) wasmqe_dealloc(r->validity, bm, 8);
  if (r->offsets) {
    out->offsets = (wasmqe_u32)(wasmqe_usize)r->offsets;
    out->values = (wasmqe_u32)(wasmqe_usize)data;
    out->values_len = r->data.len;
    wasmqe__growbuf_free(&r->data);
  } else {
    out->offsets = 0;
    out->values = (wasmqe_u32)(wasmqe_usize)r->values;
    out->values_len = r->values_len;
  }
  out->reserved = 0;
  wasmqe_errors *e = wasmqe_batch_errors(b);
  if (r->error_count) {
    e->error_count = r->error_count;
    e->rows = (wasmqe_u32)(wasmqe_usize)r->error_rows;
    e->offsets = (wasmqe_u32)(wasmqe_usize)r->error_offsets;
    e->messages = (wasmqe_u32)(wasmqe_usize)messages;
    e->messages_len = r->messages.len;
    wasmqe__growbuf_free(&r->messages);
  } else {
    e->error_count = e->rows = e->offsets = e->messages = e->messages_len = 0;
  }
  e->reserved = 0;
  __builtin_memset(r, 0, sizeof *r); /* the host owns the buffers now */
  return WASMQE_BATCH_OK;
oom:
  if (r->offsets) wasmqe_dealloc(data, r->data.len, 8);
  wasmqe_result_abort(r);
  return WASMQE_BATCH_NO_MEMORY;
}

#ifdef __cplusplus
}
#endif

#endif /* WASMQE_UDF_IMPLEMENTATION */
#endif /* WASM_QE_UDF_H */
