// Package fault is the one error type of Fiscus's domain.
//
// Every error that reaches a client carries a stable, machine-readable Code, a
// message that is safe to show, and optional field-level details. Codes map to
// HTTP statuses in exactly one place (httpapi); domain code never picks a
// status. Anything that is not a *fault.Error is internal and is reported to
// clients as a generic 500 without its text.
package fault

import (
	"errors"
	"fmt"
)

// Code is a stable identifier clients may switch on. Codes are never renamed.
type Code string

// Codes shared across the platform. Packages add their own as they need them;
// httpapi maps each kind of code to an HTTP status.
const (
	Internal          Code = "internal_error"
	Invalid           Code = "validation_failed"
	MalformedJSON     Code = "malformed_json"
	UnknownField      Code = "unknown_field"
	InvalidType       Code = "invalid_type"
	BodyTooLarge      Code = "body_too_large"
	UnsupportedMedia  Code = "unsupported_media_type"
	NotFound          Code = "not_found"
	MethodNotAllowed  Code = "method_not_allowed"
	Conflict          Code = "conflict"
	Unauthenticated   Code = "unauthenticated"
	Forbidden         Code = "forbidden"
	RateLimited       Code = "rate_limited"
	Unavailable       Code = "service_unavailable"
	IdempotencyReused Code = "idempotency_key_reused"
	IdempotencyBusy   Code = "idempotency_key_in_flight"
)

// FieldError names one offending input field. Field is a JSON path such as
// "amount" or "postings[1].asset".
type FieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error is a domain error with a stable code and a client-safe message.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
	// Extra holds additional, client-safe, machine-readable members for the
	// problem document (for example "needed" and "available" amounts).
	Extra map[string]any
	// Err is the underlying cause; it is logged, never shown to clients.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error with the given code and safe message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an error with the given code and message that keeps err as its
// (unshown) cause.
func Wrap(err error, code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// Invalidf returns a validation error for one field.
func Invalidf(field, code, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	return &Error{Code: Invalid, Message: "The request is not valid.", Fields: []FieldError{{Field: field, Code: code, Message: msg}}}
}

// With returns a copy of e with an extra problem member set.
func (e *Error) With(key string, value any) *Error {
	c := *e
	c.Extra = make(map[string]any, len(e.Extra)+1)
	for k, v := range e.Extra {
		c.Extra[k] = v
	}
	c.Extra[key] = value
	return &c
}

// CodeOf returns the code of the first *Error in err's chain, or Internal.
func CodeOf(err error) Code {
	if e, ok := As(err); ok {
		return e.Code
	}
	return Internal
}

// As finds the first *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// Is reports whether err carries the given code.
func Is(err error, code Code) bool {
	e, ok := As(err)
	return ok && e.Code == code
}
