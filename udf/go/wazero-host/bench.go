package main

// --bench: compile time, instantiate time, and the cost of each request's calls, for putting
// wazero's compiler and interpreter beside wasmtime's tiers.
//
// Compile: CompileModule on a fresh runtime (no compilation cache), median of the rounds.
// Instantiate: InstantiateModule + _initialize + wasmqe_abi_version, median of the rounds.
// Calls: each request's arguments are converted once; a round repeats the call (scalar: the
// export itself through CallWithStack; document: the whole document call with its result cell
// and wasmqe_doc imports; batch: buffers written into the guest, the call, the result read out
// and freed, kept as columns: not one Go value per row) as many times as fill --round-ms, and the median round is reported per call (per
// row for batches). A batch request's rows are repeated to each --rows size.

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"time"
)

type BenchOptions struct {
	Rows    []int
	Rounds  int
	RoundMs float64
}

type BenchCall struct {
	Function  string    `json:"function"`
	Style     string    `json:"style"`
	Rows      int       `json:"rows,omitempty"`
	Calls     int       `json:"calls_per_round"`
	PerCallNs float64   `json:"per_call_ns"`
	PerRowNs  float64   `json:"per_row_ns,omitempty"`
	RoundsNs  []float64 `json:"rounds_per_call_ns"`
	RowErrors int       `json:"row_errors,omitempty"`
	Failure   string    `json:"failure,omitempty"`
}

type BenchReport struct {
	Engine        string      `json:"engine"`
	Mode          string      `json:"mode"`
	Module        string      `json:"module"`
	ModuleBytes   int         `json:"module_bytes"`
	GoVersion     string      `json:"go_version"`
	CompileMs     float64     `json:"compile_ms"`
	CompileRuns   []float64   `json:"compile_ms_runs"`
	InstantiateMs float64     `json:"instantiate_ms"`
	InstRuns      []float64   `json:"instantiate_ms_runs"`
	Calls         []BenchCall `json:"calls"`
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func median(xs []float64) float64 {
	sorted := append([]float64(nil), xs...)
	sort.Float64s(sorted)
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func Bench(ctx context.Context, mode, path string, wasm []byte, reqs []parsed, opts BenchOptions) (*BenchReport, error) {
	report := &BenchReport{Engine: "wazero v1.12.0", Mode: mode, Module: path, ModuleBytes: len(wasm), GoVersion: runtime.Version()}
	var host *Host
	for round := 0; round < opts.Rounds; round++ {
		h, err := NewHost(ctx, mode)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		if err := h.Compile(wasm); err != nil {
			return nil, err
		}
		report.CompileRuns = append(report.CompileRuns, ms(time.Since(start)))
		if host != nil {
			host.Close()
		}
		host = h
	}
	defer host.Close()
	report.CompileMs = median(report.CompileRuns)
	for round := 0; round < opts.Rounds; round++ {
		start := time.Now()
		inst, err := host.Instantiate()
		if err != nil {
			return nil, err
		}
		report.InstRuns = append(report.InstRuns, ms(time.Since(start)))
		inst.mod.Close(ctx)
	}
	report.InstantiateMs = median(report.InstRuns)
	for _, req := range reqs {
		report.Calls = append(report.Calls, benchRequest(host, req, opts)...)
	}
	return report, nil
}

// measure: calibrate the count of calls per round (doubling up to --round-ms), then time rounds.
func measure(opts BenchOptions, once func() error) (int, []float64, error) {
	target := time.Duration(opts.RoundMs * float64(time.Millisecond))
	count := 1
	for {
		start := time.Now()
		for i := 0; i < count; i++ {
			if err := once(); err != nil {
				return 0, nil, err
			}
		}
		if time.Since(start) >= target || count >= 1<<30 {
			break
		}
		count *= 2
	}
	var perCall []float64
	for round := 0; round < opts.Rounds; round++ {
		start := time.Now()
		for i := 0; i < count; i++ {
			if err := once(); err != nil {
				return 0, nil, err
			}
		}
		perCall = append(perCall, float64(time.Since(start).Nanoseconds())/float64(count))
	}
	return count, perCall, nil
}

func benchRequest(h *Host, req parsed, opts BenchOptions) []BenchCall {
	result := BenchCall{Function: req.Function, Style: req.Style}
	failed := func(err error) []BenchCall {
		result.Failure = err.Error()
		return []BenchCall{result}
	}
	if req.bad != nil {
		return failed(req.bad)
	}
	spec, err := h.spec(req.Function, req.Style)
	if err != nil {
		return failed(err)
	}
	switch req.Style {
	case "scalar":
		params, null, err := PrepareScalar(spec, req.Args)
		if err != nil {
			return failed(err)
		}
		if null {
			return failed(fmt.Errorf("a NULL argument: nothing is called"))
		}
		stack := make([]uint64, max(1, len(params)))
		count, rounds, err := measure(opts, func() error {
			copy(stack, params)
			_, err := h.CallScalar(spec, stack)
			return err
		})
		if err != nil {
			return failed(err)
		}
		result.Calls, result.RoundsNs, result.PerCallNs = count, rounds, median(rounds)
		return []BenchCall{result}
	case "document":
		doc, err := PrepareDocument(req.Document)
		if err != nil {
			return failed(err)
		}
		count, rounds, err := measure(opts, func() error {
			_, err := h.CallDocument(spec, doc)
			if _, rowError := err.(*RowError); rowError {
				return nil
			}
			return err
		})
		if err != nil {
			return failed(err)
		}
		result.Calls, result.RoundsNs, result.PerCallNs = count, rounds, median(rounds)
		return []BenchCall{result}
	}
	if len(req.Columns) == 0 || len(req.Columns[0]) == 0 {
		return failed(fmt.Errorf("a batch to time needs at least one row"))
	}
	var out []BenchCall
	for _, n := range opts.Rows {
		tiled := make([][]any, len(req.Columns))
		for c, values := range req.Columns {
			tiled[c] = make([]any, n)
			for i := range tiled[c] {
				tiled[c][i] = values[i%len(values)]
			}
		}
		sized := BenchCall{Function: req.Function, Style: req.Style, Rows: n}
		columns, rows, err := PrepareBatch(spec, tiled)
		if err == nil {
			var first *BatchResult
			first, err = h.CallBatch(spec, columns, rows)
			if err == nil {
				for _, e := range first.Errors {
					if e != nil {
						sized.RowErrors++
					}
				}
				h.keepColumns = true
				sized.Calls, sized.RoundsNs, err = measure(opts, func() error {
					_, err := h.CallBatch(spec, columns, rows)
					return err
				})
				h.keepColumns = false
			}
		}
		if err != nil {
			sized.Failure = err.Error()
		} else {
			sized.PerCallNs = median(sized.RoundsNs)
			sized.PerRowNs = sized.PerCallNs / float64(n)
		}
		out = append(out, sized)
	}
	return out
}
