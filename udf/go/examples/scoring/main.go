//go:build wasip1 && wasm

// The scoring UDFs in Go: custom_score (scalar, document, batch) and levenshtein (document,
// batch). The manifest is wasm-qe-udf.jsonl next to this file; see README.md.
package main

import (
	udf "wasmqe.dev/udf/wasmqeudf"
)

// main is not run: a -buildmode=c-shared module is a reactor (the host calls _initialize).
func main() {}

// ---- custom_score (seed 004) ----

func score(docScore, boost float64, recencyDays int32) float64 {
	factor := 1.0
	if recencyDays < 7 {
		factor = 1.5
	} else if recencyDays < 30 {
		factor = 1.2
	}
	return docScore * boost * factor
}

//go:wasmexport custom_score
func customScore(docScore, boost float64, recencyDays int32) float64 {
	return score(docScore, boost, recencyDays)
}

//go:wasmexport custom_score__doc
func customScoreDoc(doc int32, out uint32) int32 {
	d, o := udf.Doc(doc), udf.Out(out)
	docScore, st1 := d.F64("doc_score")
	boost, st2 := d.F64("boost")
	recencyDays, st3 := d.I32("recency_days")
	switch {
	case st1 == udf.GetOK && st2 == udf.GetOK && st3 == udf.GetOK:
		return o.F64(score(docScore, boost, recencyDays))
	case st1 == udf.GetNull || st2 == udf.GetNull || st3 == udf.GetNull:
		return o.Null() // strict
	default:
		return o.Error("custom_score: an argument field has the wrong type")
	}
}

//go:wasmexport custom_score__batch
func customScoreBatch(desc uint32) int32 {
	b := udf.Batch(desc)
	if b.Check(udf.TypeF64, udf.TypeF64, udf.TypeI32) != udf.BatchOK {
		return udf.BatchMismatch
	}
	docScore, boost, recencyDays := b.Arg(0), b.Arg(1), b.Arg(2)
	n := b.NumRows()
	r := udf.NewResult(udf.TypeF64, n)
	for i := 0; i < n; i++ {
		if !udf.AllValid(i, docScore, boost, recencyDays) {
			r.SetNull(i)
			continue
		}
		r.SetF64(i, score(docScore.F64(i), boost.F64(i), recencyDays.I32(i)))
	}
	return r.Finish(b)
}

// ---- levenshtein: edit distance over Unicode scalar values (runes), unit costs ----

// levenshtein decodes both strings into runes (an invalid UTF-8 byte becomes one U+FFFD) and
// keeps one row of the dynamic-programming table.
func levenshtein(sa, sb string) int64 {
	a, b := []rune(sa), []rune(sb)
	row := make([]int64, len(b)+1)
	for j := range row {
		row[j] = int64(j)
	}
	for i := 1; i <= len(a); i++ {
		diag := row[0] // distance(a[:i-1], b[:j-1])
		row[0] = int64(i)
		for j := 1; j <= len(b); j++ {
			up := row[j] // distance(a[:i-1], b[:j])
			best := diag
			if a[i-1] != b[j-1] {
				best++
			}
			if up+1 < best {
				best = up + 1
			}
			if row[j-1]+1 < best {
				best = row[j-1] + 1
			}
			row[j] = best
			diag = up
		}
	}
	return row[len(b)]
}

//go:wasmexport levenshtein__doc
func levenshteinDoc(doc int32, out uint32) int32 {
	d, o := udf.Doc(doc), udf.Out(out)
	a, st1 := d.String("a")
	if st1 == udf.GetNull {
		return o.Null() // strict
	}
	b, st2 := d.String("b")
	switch {
	case st1 == udf.GetOK && st2 == udf.GetOK:
		return o.I64(levenshtein(a, b))
	case st2 == udf.GetNull:
		return o.Null()
	default:
		return o.Error("levenshtein: an argument field is not a string")
	}
}

//go:wasmexport levenshtein__batch
func levenshteinBatch(desc uint32) int32 {
	b := udf.Batch(desc)
	if b.Check(udf.TypeString, udf.TypeString) != udf.BatchOK {
		return udf.BatchMismatch
	}
	a, bb := b.Arg(0), b.Arg(1)
	n := b.NumRows()
	r := udf.NewResult(udf.TypeI64, n)
	for i := 0; i < n; i++ {
		if !udf.AllValid(i, a, bb) {
			r.SetNull(i)
			continue
		}
		r.SetI64(i, levenshtein(a.Str(i), bb.Str(i)))
	}
	return r.Finish(b)
}
