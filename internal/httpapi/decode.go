package httpapi

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/fiscus/fiscus/internal/fault"
)

// decodeJSON reads exactly one JSON value from the request body into dst.
// It rejects a wrong content type (415), an oversize body (413), malformed
// JSON, unknown fields, values of the wrong type and trailing data (400), each
// with a stable code and, where known, the offending field.
func decodeJSON(r *http.Request, dst any) error {
	return decodeFrom(r, r.Body, dst)
}

// decodeOptionalJSON is decodeJSON for endpoints whose body may be absent:
// an empty body (with or without Content-Length, with or without a content
// type) leaves dst as it is.
func decodeOptionalJSON(r *http.Request, dst any) error {
	br := bufio.NewReader(r.Body)
	if _, err := br.Peek(1); errors.Is(err, io.EOF) {
		return nil
	}
	return decodeFrom(r, br, dst)
}

func decodeFrom(r *http.Request, body io.Reader, dst any) error {
	if err := requireJSON(r); err != nil {
		return err
	}
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	// Exactly one value: anything but white space after it is an error.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return decodeError(err)
		}
		return fault.New(fault.MalformedJSON, "The request body has data after the JSON value.")
	}
	return nil
}

func requireJSON(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return fault.New(fault.UnsupportedMedia, "Content-Type must be application/json.")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return fault.New(fault.UnsupportedMedia, "Content-Type must be application/json, not %q.", truncate(ct, 64))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return fault.New(fault.UnsupportedMedia, "JSON must be UTF-8, not %q.", truncate(cs, 32))
	}
	return nil
}

func decodeError(err error) error {
	var (
		syntax   *json.SyntaxError
		typ      *json.UnmarshalTypeError
		tooLarge *http.MaxBytesError
	)
	switch {
	case errors.As(err, &tooLarge):
		return fault.New(fault.BodyTooLarge, "The request body exceeds %d bytes.", tooLarge.Limit).With("limit_bytes", tooLarge.Limit)
	case errors.Is(err, io.EOF):
		return fault.New(fault.MalformedJSON, "The request body is empty; a JSON object is required.")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fault.New(fault.MalformedJSON, "The request body ends in the middle of a JSON value.")
	case errors.As(err, &syntax):
		return fault.New(fault.MalformedJSON, "The request body is not valid JSON (at byte %d).", syntax.Offset).With("offset", syntax.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		return &fault.Error{
			Code:    fault.InvalidType,
			Message: "A field has the wrong type.",
			Fields:  []fault.FieldError{{Field: field, Code: "invalid_type", Message: fmt.Sprintf("must be %s, not %s", jsonKind(typ.Type.Kind()), typ.Value)}},
		}
	}
	// encoding/json reports unknown fields only as text.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return &fault.Error{
			Code:    fault.UnknownField,
			Message: "The request body has a field this endpoint does not accept.",
			Fields:  []fault.FieldError{{Field: truncate(name, 128), Code: "unknown_field", Message: "is not a known field"}},
		}
	}
	return fault.Wrap(err, fault.MalformedJSON, "The request body could not be decoded.")
}

func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a different type"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
