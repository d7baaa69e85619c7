// wazero-host: the wazero conformance host of the WASM UDF ABI (docs/udf-abi.md, issue 15).
//
//	wazero-host --module M.wasm --mode compiler|interpreter --requests R.jsonl   > results.jsonl
//	wazero-host --bench --module M.wasm --mode compiler --requests R.jsonl [--rows 1024,65536]
//
// See README.md for the request and result shapes.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

type Request struct {
	Function string         `json:"function"`
	Style    string         `json:"style"`
	Args     []any          `json:"args"`
	Document map[string]any `json:"document"`
	Columns  [][]any        `json:"columns"`
}

func main() {
	module := flag.String("module", "", "the UDF module (.wasm)")
	mode := flag.String("mode", "compiler", "wazero runtime: compiler or interpreter")
	requests := flag.String("requests", "-", "requests, JSON Lines (- for stdin)")
	bench := flag.Bool("bench", false, "time compile, instantiate and each request's calls instead of answering")
	rows := flag.String("rows", "1024,65536", "bench: batch sizes (the batch request's rows, repeated)")
	rounds := flag.Int("rounds", 5, "bench: timed rounds per measurement (the median is reported)")
	roundMs := flag.Float64("round-ms", 100, "bench: each round runs at least this long")
	flag.Parse()
	if *module == "" {
		fatal(2, "--module is required")
	}
	if _, err := runtimeConfig(*mode); err != nil {
		fatal(2, err.Error())
	}
	wasm, err := os.ReadFile(*module)
	if err != nil {
		fatal(2, err.Error())
	}
	reqs, err := readRequests(*requests)
	if err != nil {
		fatal(2, err.Error())
	}
	ctx := context.Background()
	out := bufio.NewWriterSize(os.Stdout, 1<<16)
	defer out.Flush()
	if *bench {
		var sizes []int
		for _, s := range strings.Split(*rows, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n <= 0 {
				fatal(2, fmt.Sprintf("--rows: %q is not a positive number", s))
			}
			sizes = append(sizes, n)
		}
		report, err := Bench(ctx, *mode, *module, wasm, reqs, BenchOptions{Rows: sizes, Rounds: max(1, *rounds), RoundMs: *roundMs})
		if err != nil {
			fatal(1, err.Error())
		}
		encoded, _ := json.MarshalIndent(report, "", "  ")
		out.Write(append(encoded, '\n'))
		return
	}
	host, err := NewHost(ctx, *mode)
	if err != nil {
		fatal(1, err.Error())
	}
	defer host.Close()
	if err := host.Compile(wasm); err != nil {
		fatal(1, err.Error())
	}
	for _, req := range reqs {
		out.Write(append(host.Answer(req), '\n'))
	}
}

func fatal(status int, message string) {
	fmt.Fprintln(os.Stderr, "wazero-host:", message)
	os.Exit(status)
}

// parsed: a request line, or why it is not one (answered with a failure, in its place).
type parsed struct {
	Request
	bad error
}

func readRequests(path string) ([]parsed, error) {
	var input io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		input = f
	}
	reader := bufio.NewReaderSize(input, 1<<20)
	var reqs []parsed
	for {
		line, err := reader.ReadBytes('\n')
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			var req parsed
			decoder := json.NewDecoder(bytes.NewReader(trimmed))
			decoder.UseNumber()
			decoder.DisallowUnknownFields()
			if derr := decoder.Decode(&req.Request); derr != nil {
				req.bad = derr
			}
			reqs = append(reqs, req)
		}
		if err == io.EOF {
			return reqs, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// Answer: one result line for one request.
func (h *Host) Answer(req parsed) []byte {
	if req.bad != nil {
		return failureLine("bad request: " + req.bad.Error())
	}
	spec, err := h.spec(req.Function, req.Style)
	if err != nil {
		if req.Style != "scalar" && req.Style != "document" && req.Style != "batch" {
			return failureLine(fmt.Sprintf("bad request: %v", errUnknownStyle))
		}
		return failureLine(err.Error())
	}
	switch req.Style {
	case "scalar":
		params, null, err := PrepareScalar(spec, req.Args)
		if err != nil {
			return failureLine(err.Error())
		}
		if _, err := h.instance(); err != nil {
			return failureLine(err.Error())
		}
		if null {
			return valueLine(nil)
		}
		value, err := h.CallScalar(spec, append(params, 0))
		if err != nil {
			return failureLine(err.Error())
		}
		return valueLine(value)
	case "document":
		doc, err := PrepareDocument(req.Document)
		if err != nil {
			return failureLine(err.Error())
		}
		value, err := h.CallDocument(spec, doc)
		if rowErr, ok := err.(*RowError); ok {
			return append(appendString([]byte(`{"error":`), rowErr.Message), '}')
		}
		if err != nil {
			return failureLine(err.Error())
		}
		return valueLine(value)
	default:
		columns, rows, err := PrepareBatch(spec, req.Columns)
		if err != nil {
			return failureLine(err.Error())
		}
		result, err := h.CallBatch(spec, columns, rows)
		if err != nil {
			return failureLine(err.Error())
		}
		return batchLine(result)
	}
}

func valueLine(v any) []byte {
	return append(appendValue([]byte(`{"value":`), v), '}')
}

func failureLine(message string) []byte {
	return append(appendString([]byte(`{"failure":`), message), '}')
}

func batchLine(r *BatchResult) []byte {
	buf := []byte(`{"values":[`)
	for i, v := range r.Values {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendValue(buf, v)
	}
	buf = append(buf, `],"errors":[`...)
	for i, e := range r.Errors {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendValue(buf, e)
	}
	return append(buf, "]}"...)
}
