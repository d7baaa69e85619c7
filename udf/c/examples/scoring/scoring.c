/*
 * The scoring UDFs in C: custom_score (scalar, document, batch) and levenshtein (document,
 * batch). See README.md here for the build command; docs/udf-abi.md for the ABI.
 */
#define WASMQE_UDF_IMPLEMENTATION
#include "wasm_qe_udf.h"

WASMQE_MANIFEST({"abi":"1.0","name":"custom_score","args":[{"name":"doc_score","type":"f64"},{"name":"boost","type":"f64"},{"name":"recency_days","type":"i32"}],"returns":{"type":"f64"},"fallible":false,"deterministic":true,"styles":["scalar","document","batch"]});
WASMQE_MANIFEST({"abi":"1.0","name":"levenshtein","args":[{"name":"a","type":"string"},{"name":"b","type":"string"}],"returns":{"type":"i64"},"fallible":false,"deterministic":true,"styles":["document","batch"]});

/* ---- custom_score (seed 004) ---- */

static double score(double doc_score, double boost, wasmqe_i32 recency_days) {
  double factor = recency_days < 7 ? 1.5 : recency_days < 30 ? 1.2 : 1.0;
  return doc_score * boost * factor;
}

WASMQE_EXPORT(custom_score)
double custom_score(double doc_score, double boost, wasmqe_i32 recency_days) {
  return score(doc_score, boost, recency_days);
}

WASMQE_EXPORT(custom_score__doc)
wasmqe_i32 custom_score__doc(wasmqe_doc_t doc, void *out) {
  double doc_score, boost;
  wasmqe_i32 recency_days, st;
  if ((st = wasmqe_doc_f64(doc, "doc_score", &doc_score)) != WASMQE_GET_OK ||
      (st = wasmqe_doc_f64(doc, "boost", &boost)) != WASMQE_GET_OK ||
      (st = wasmqe_doc_i32(doc, "recency_days", &recency_days)) != WASMQE_GET_OK) {
    if (st == WASMQE_GET_NULL) return wasmqe_out_null(out); /* strict */
    return wasmqe_out_error(out, "custom_score: an argument field has the wrong type");
  }
  return wasmqe_out_f64(out, score(doc_score, boost, recency_days));
}

WASMQE_EXPORT(custom_score__batch)
wasmqe_i32 custom_score__batch(wasmqe_batch *b) {
  static const wasmqe_u32 types[3] = {WASMQE_TYPE_F64, WASMQE_TYPE_F64, WASMQE_TYPE_I32};
  if (wasmqe_batch_check(b, 3, types) != WASMQE_BATCH_OK) return WASMQE_BATCH_MISMATCH;
  wasmqe_result r;
  if (!wasmqe_result_init(&r, WASMQE_TYPE_F64, b->num_rows)) return WASMQE_BATCH_NO_MEMORY;
  const wasmqe_column *a = b->columns;
  for (wasmqe_u32 i = 0; i < b->num_rows; i++) {
    if (!wasmqe_cols_valid(a, 3, i)) {
      wasmqe_result_null(&r, i);
      continue;
    }
    wasmqe_result_f64(&r, i,
                      score(wasmqe_col_f64(&a[0], i), wasmqe_col_f64(&a[1], i),
                            wasmqe_col_i32(&a[2], i)));
  }
  return wasmqe_result_finish(&r, b);
}

/* ---- levenshtein: edit distance over Unicode scalar values, unit costs ---- */

/* Decodes s into a fresh array of code points; *count gets their number. 0 if out of memory
 * (an empty string gives a valid zero-size block). */
static wasmqe_u32 *decode(const wasmqe_u8 *s, wasmqe_u32 n, wasmqe_u32 *count) {
  wasmqe_u32 *cps = (wasmqe_u32 *)wasmqe_alloc(4 * n, 4); /* at most n code points */
  if (!cps) return 0;
  wasmqe_u32 i = 0, k = 0;
  while (i < n) cps[k++] = wasmqe_utf8_next(s, n, &i);
  *count = k;
  return cps;
}

/* Returns -1 when out of memory. */
static wasmqe_i64 levenshtein_bytes(const wasmqe_u8 *sa, wasmqe_u32 na, const wasmqe_u8 *sb,
                                    wasmqe_u32 nb) {
  if (na > 0x3FFFFFFFu || nb > 0x3FFFFFFEu) return -1;
  wasmqe_u32 la, lb;
  wasmqe_u32 *a = decode(sa, na, &la);
  if (!a) return -1;
  wasmqe_u32 *b = decode(sb, nb, &lb);
  wasmqe_u32 *row = b ? (wasmqe_u32 *)wasmqe_alloc(4 * (nb + 1), 4) : 0;
  wasmqe_i64 result = -1;
  if (row) {
    /* one row of the DP table over b; row[j] = distance(a[..i], b[..j]) */
    for (wasmqe_u32 j = 0; j <= lb; j++) row[j] = j;
    for (wasmqe_u32 i = 1; i <= la; i++) {
      wasmqe_u32 diag = row[0]; /* distance(a[..i-1], b[..j-1]) */
      row[0] = i;
      for (wasmqe_u32 j = 1; j <= lb; j++) {
        wasmqe_u32 up = row[j]; /* distance(a[..i-1], b[..j]) */
        wasmqe_u32 best = diag + (a[i - 1] != b[j - 1]);
        if (up + 1 < best) best = up + 1;
        if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
        row[j] = best;
        diag = up;
      }
    }
    result = row[lb];
  }
  wasmqe_dealloc(row, 4 * (nb + 1), 4);
  wasmqe_dealloc(b, 4 * nb, 4);
  wasmqe_dealloc(a, 4 * na, 4);
  return result;
}

WASMQE_EXPORT(levenshtein__doc)
wasmqe_i32 levenshtein__doc(wasmqe_doc_t doc, void *out) {
  wasmqe_u8 *a = 0, *b = 0;
  wasmqe_u32 na = 0, nb = 0;
  wasmqe_i32 sa = wasmqe_doc_string(doc, "a", &a, &na);
  wasmqe_i32 sb = sa == WASMQE_GET_OK ? wasmqe_doc_string(doc, "b", &b, &nb) : sa;
  wasmqe_i32 status;
  if (sa == WASMQE_GET_OK && sb == WASMQE_GET_OK) {
    wasmqe_i64 d = levenshtein_bytes(a, na, b, nb);
    if (d < 0) __builtin_trap(); /* out of memory: a document call has no status for it */
    status = wasmqe_out_i64(out, d);
  } else if (sa == WASMQE_GET_NULL || sb == WASMQE_GET_NULL) {
    status = wasmqe_out_null(out); /* strict */
  } else {
    status = wasmqe_out_error(out, "levenshtein: an argument field is not a string");
  }
  wasmqe_free_bytes(a, na);
  wasmqe_free_bytes(b, nb);
  return status;
}

WASMQE_EXPORT(levenshtein__batch)
wasmqe_i32 levenshtein__batch(wasmqe_batch *b) {
  static const wasmqe_u32 types[2] = {WASMQE_TYPE_STRING, WASMQE_TYPE_STRING};
  if (wasmqe_batch_check(b, 2, types) != WASMQE_BATCH_OK) return WASMQE_BATCH_MISMATCH;
  wasmqe_result r;
  if (!wasmqe_result_init(&r, WASMQE_TYPE_I64, b->num_rows)) return WASMQE_BATCH_NO_MEMORY;
  const wasmqe_column *a = b->columns;
  for (wasmqe_u32 i = 0; i < b->num_rows; i++) {
    if (!wasmqe_cols_valid(a, 2, i)) {
      wasmqe_result_null(&r, i);
      continue;
    }
    wasmqe_u32 na, nb;
    const wasmqe_u8 *sa = wasmqe_col_str(&a[0], i, &na);
    const wasmqe_u8 *sb = wasmqe_col_str(&a[1], i, &nb);
    wasmqe_i64 d = levenshtein_bytes(sa, na, sb, nb);
    if (d < 0) {
      wasmqe_result_abort(&r);
      return WASMQE_BATCH_NO_MEMORY;
    }
    wasmqe_result_i64(&r, i, d);
  }
  return wasmqe_result_finish(&r, b);
}
