package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/fiscus/fiscus/internal/fault"
)

// ProblemContentType is the media type of every error response (RFC 9457).
const ProblemContentType = "application/problem+json"

// statusByCode is the one place domain codes become HTTP statuses. A
// fault.Error whose code is not listed is a business-rule refusal: 422.
var statusByCode = map[fault.Code]int{
	fault.Internal:          http.StatusInternalServerError,
	fault.Invalid:           http.StatusUnprocessableEntity,
	fault.MalformedJSON:     http.StatusBadRequest,
	fault.UnknownField:      http.StatusBadRequest,
	fault.InvalidType:       http.StatusBadRequest,
	fault.BodyTooLarge:      http.StatusRequestEntityTooLarge,
	fault.UnsupportedMedia:  http.StatusUnsupportedMediaType,
	fault.NotFound:          http.StatusNotFound,
	fault.MethodNotAllowed:  http.StatusMethodNotAllowed,
	fault.Conflict:          http.StatusConflict,
	fault.Unauthenticated:   http.StatusUnauthorized,
	fault.Forbidden:         http.StatusForbidden,
	fault.RateLimited:       http.StatusTooManyRequests,
	fault.Unavailable:       http.StatusServiceUnavailable,
	fault.IdempotencyReused: http.StatusUnprocessableEntity,
	fault.IdempotencyBusy:   http.StatusConflict,
}

// StatusOf returns the HTTP status for an error.
func StatusOf(err error) int {
	e, ok := fault.As(err)
	if !ok {
		return http.StatusInternalServerError
	}
	if s, ok := statusByCode[e.Code]; ok {
		return s
	}
	return http.StatusUnprocessableEntity
}

// Problem is an RFC 9457 problem document. Extra members from fault.Error
// are merged in at the top level.
type Problem struct {
	Type      string             `json:"type"`
	Title     string             `json:"title"`
	Status    int                `json:"status"`
	Detail    string             `json:"detail,omitempty"`
	Instance  string             `json:"instance,omitempty"`
	Code      fault.Code         `json:"code"`
	RequestID string             `json:"request_id,omitempty"`
	Errors    []fault.FieldError `json:"errors,omitempty"`
}

// problemType is the URI naming a problem kind.
func problemType(code fault.Code) string { return "urn:fiscus:problem:" + string(code) }

// writeError renders err as problem+json. Internal errors are logged here,
// once, with the request ID, and shown to the client without their text.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := StatusOf(err)
	e, ok := fault.As(err)
	if !ok || status >= 500 {
		level := slog.LevelError
		if errors.Is(err, r.Context().Err()) {
			level = slog.LevelWarn // client went away or the request timed out
		}
		s.log.Log(r.Context(), level, "request failed", "err", err, "method", r.Method, "path", r.URL.Path)
	}
	if !ok {
		e = fault.New(fault.Internal, "An internal error occurred. Quote the request ID when reporting it.")
	}
	if status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		// Every 401 names a scheme (RFC 9110 §15.5.2), also when the
		// refused credential came in the body (a password, an MFA or a
		// refresh token): what follows sign-in is a bearer token.
		w.Header().Set("WWW-Authenticate", `Bearer realm="fiscus"`)
	}
	WriteProblem(w, r, status, e)
}

// WriteProblem writes a problem document for e with the given status.
func WriteProblem(w http.ResponseWriter, r *http.Request, status int, e *fault.Error) {
	p := Problem{
		Type:      problemType(e.Code),
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    e.Message,
		Instance:  r.URL.Path,
		Code:      e.Code,
		RequestID: requestIDOf(r),
		Errors:    e.Fields,
	}
	var body []byte
	if len(e.Extra) == 0 {
		body, _ = json.Marshal(p)
	} else {
		m := make(map[string]any, len(e.Extra)+8)
		for k, v := range e.Extra {
			m[k] = v
		}
		// Standard members win over extras of the same name.
		raw, _ := json.Marshal(p)
		var std map[string]any
		_ = json.Unmarshal(raw, &std)
		for k, v := range std {
			m[k] = v
		}
		body, _ = json.Marshal(m)
	}
	h := w.Header()
	h.Set("Content-Type", ProblemContentType)
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// writeJSON writes v as JSON with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(append(body, '\n'))
	return err
}
