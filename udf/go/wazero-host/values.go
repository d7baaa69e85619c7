package main

// JSON in and out: requests' values converted by the manifest's types, results written so that
// Python's json module reads back exactly the value the guest produced (a float always has a '.'
// or an exponent, so -0.0 stays a float; non-finite floats are strings).

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ---------------------------------------------------------------- request values

func isIntLiteral(n json.Number) bool {
	return !strings.ContainsAny(string(n), ".eE")
}

func toInt(v any, what string) (int64, error) {
	n, ok := v.(json.Number)
	if !ok || !isIntLiteral(n) {
		return 0, fmt.Errorf("%s: want an integer, got %s", what, describe(v))
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %s is outside the i64 range", what, n)
	}
	return i, nil
}

func toFloat(v any, what string) (float64, error) {
	switch x := v.(type) {
	case json.Number:
		return strconv.ParseFloat(string(x), 64)
	case string:
		switch x {
		case "NaN":
			return math.Float64frombits(0x7ff8000000000000), nil // the quiet NaN Python and wasm write
		case "Infinity":
			return math.Inf(1), nil
		case "-Infinity":
			return math.Inf(-1), nil
		}
	}
	return 0, fmt.Errorf("%s: want a number (or \"NaN\", \"Infinity\", \"-Infinity\"), got %s", what, describe(v))
}

func toBool(v any, what string) (bool, error) {
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("%s: want true or false, got %s", what, describe(v))
	}
	return b, nil
}

func toBytes(v any, typ, what string) ([]byte, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("%s: want a string, got %s", what, describe(v))
	}
	if typ == "bytes" {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%s: a bytes value is base64: %v", what, err)
		}
		return b, nil
	}
	return []byte(s), nil
}

func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a bool"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// encodeScalar: a non-null argument as the wasm value of its scalar type (section 3).
func encodeScalar(v any, typ, what string) (uint64, error) {
	switch typ {
	case "bool":
		b, err := toBool(v, what)
		if b {
			return 1, err
		}
		return 0, err
	case "i32":
		i, err := toInt(v, what)
		if err == nil && (i < math.MinInt32 || i > math.MaxInt32) {
			err = fmt.Errorf("%s: %d is outside the i32 range", what, i)
		}
		return uint64(uint32(int32(i))), err
	case "i64", "timestamp":
		i, err := toInt(v, what)
		return uint64(i), err
	case "f32":
		f, err := toFloat(v, what)
		return uint64(math.Float32bits(float32(f))), err
	case "f64":
		f, err := toFloat(v, what)
		return math.Float64bits(f), err
	}
	return 0, fmt.Errorf("%s: type %s has no scalar wasm type", what, typ)
}

// decodeScalar: a scalar result (or a fixed-width cell) as the value written out.
func decodeScalar(raw uint64, typ string) any {
	switch typ {
	case "bool":
		return uint32(raw) != 0
	case "i32":
		return int64(int32(uint32(raw)))
	case "i64", "timestamp":
		return int64(raw)
	case "f32":
		return float64(math.Float32frombits(uint32(raw)))
	case "f64":
		return math.Float64frombits(raw)
	}
	return nil
}

// ---------------------------------------------------------------- documents

// Document values, typed once when the request is read.
type (
	docObject    map[string]any
	docInt       int64
	docBigInt    float64 // an integer literal outside i64: a number, but not for get_i64
	docFloat     float64
	docBool      bool
	docString    string
	docBytes     []byte
	docTimestamp int64
	docOther     struct{} // an array: present, of no type a getter accepts
)

// toDocument types a request's "document": JSON objects are nested documents, except the tagged
// values {"$bytes": base64}, {"$timestamp": micros} and {"$f64": number or "NaN"...}.
func toDocument(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case bool:
		return docBool(x), nil
	case string:
		return docString(x), nil
	case json.Number:
		if isIntLiteral(x) {
			if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
				return docInt(i), nil
			}
			f, err := strconv.ParseFloat(string(x), 64)
			return docBigInt(f), err
		}
		f, err := strconv.ParseFloat(string(x), 64)
		return docFloat(f), err
	case []any:
		return docOther{}, nil
	case map[string]any:
		if len(x) == 1 {
			for key, inner := range x {
				switch key {
				case "$bytes":
					b, err := toBytes(inner, "bytes", key)
					return docBytes(b), err
				case "$timestamp":
					i, err := toInt(inner, key)
					return docTimestamp(i), err
				case "$f64":
					f, err := toFloat(inner, key)
					return docFloat(f), err
				}
			}
		}
		object := make(docObject, len(x))
		for key, inner := range x {
			typed, err := toDocument(inner)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			object[key] = typed
		}
		return object, nil
	}
	return nil, fmt.Errorf("unexpected JSON value %T", v)
}

// lookup follows the reference host: the whole name if the document has it, else the dotted path.
func lookup(doc docObject, path string) any {
	if v, ok := doc[path]; ok {
		return v
	}
	var value any = doc
	for _, part := range strings.Split(path, ".") {
		object, ok := value.(docObject)
		if !ok {
			return nil
		}
		if value, ok = object[part]; !ok {
			return nil
		}
	}
	return value
}

// ---------------------------------------------------------------- output

func appendFloat(buf []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(buf, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(buf, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(buf, `"-Infinity"`...)
	}
	start := len(buf)
	buf = strconv.AppendFloat(buf, f, 'g', -1, 64)
	if !bytes.ContainsAny(buf[start:], ".e") {
		buf = append(buf, ".0"...)
	}
	return buf
}

func appendString(buf []byte, s string) []byte {
	encoded, _ := json.Marshal(s) // a string always marshals
	return append(buf, encoded...)
}

func appendValue(buf []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(buf, "null"...)
	case bool:
		return strconv.AppendBool(buf, x)
	case int64:
		return strconv.AppendInt(buf, x, 10)
	case float64:
		return appendFloat(buf, x)
	case string:
		return appendString(buf, x)
	case []byte:
		return appendString(buf, base64.StdEncoding.EncodeToString(x))
	}
	return appendString(buf, fmt.Sprint(v))
}

// decodeMessage decodes a guest's UTF-8 message as Python's bytes.decode("utf-8",
// errors="replace") does: each maximal ill-formed subpart becomes one U+FFFD.
func decodeMessage(b []byte) string {
	var out strings.Builder
	for i := 0; i < len(b); {
		c := b[i]
		if c < 0x80 {
			out.WriteByte(c)
			i++
			continue
		}
		need, lo, hi := 0, byte(0x80), byte(0xBF)
		switch {
		case c >= 0xC2 && c <= 0xDF:
			need = 1
		case c == 0xE0:
			need, lo = 2, 0xA0
		case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
			need = 2
		case c == 0xED:
			need, hi = 2, 0x9F
		case c == 0xF0:
			need, lo = 3, 0x90
		case c >= 0xF1 && c <= 0xF3:
			need = 3
		case c == 0xF4:
			need, hi = 3, 0x8F
		default:
			out.WriteRune('\uFFFD')
			i++
			continue
		}
		j := i + 1
		for k := 0; k < need; k++ {
			if j >= len(b) {
				break
			}
			low, high := byte(0x80), byte(0xBF)
			if k == 0 {
				low, high = lo, hi
			}
			if b[j] < low || b[j] > high {
				break
			}
			j++
		}
		if j-i == need+1 {
			out.Write(b[i:j])
		} else {
			out.WriteRune('\uFFFD')
		}
		i = j
	}
	return out.String()
}
