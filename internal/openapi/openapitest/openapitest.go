// Package openapitest checks HTTP traffic against Fiscus's OpenAPI document
// (internal/openapi/openapi.yaml), for tests at every level: a handler test
// validates one recorded response, an end-to-end test wraps its client's
// transport so that every response it sees is validated.
//
// A response is valid when its status code is documented for the operation the
// request matched, its Content-Type is one the document lists for that status,
// its body validates against the schema (JSON bodies), and the headers the
// document marks required are present and valid. Requests that match no
// operation are held to the document's rule for them: a path no operation
// serves must answer 404 with components/responses/NotFound, a known path with
// an undocumented method 405 with components/responses/MethodNotAllowed. A
// body over the size limit may answer 413 (components/responses/ContentTooLarge)
// before routing either way.
//
// It lives apart from package openapi so that the server binary does not link
// the validation libraries.
package openapitest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/pb33f/go-yaml"
	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	valerrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"
	"github.com/pb33f/libopenapi-validator/paths"
	"github.com/pb33f/libopenapi-validator/responses"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"github.com/pb33f/libopenapi/orderedmap"

	"github.com/fiscus/fiscus/internal/openapi"
)

// unmatched names a component response that answers requests no operation
// matches, and the status it is for. The document's info.description states
// the same rule.
type unmatched struct{ status, component string }

// maxBodyBytes bounds how much of a response body the validating transport
// buffers; Fiscus's largest response (the Swagger UI bundle) is far smaller.
const maxBodyBytes = 16 << 20

// Validator validates requests and responses against the document. It is safe
// for concurrent use.
type Validator struct {
	doc   libopenapi.Document
	model *v3.Document
	v     validator.Validator
	opts  *config.ValidationOptions
	// head checks answers to HEAD, which carry a GET's headers but no body.
	head responses.ResponseBodyValidator

	// Synthetic operations holding the responses for unmatched requests.
	noPath, noMethod *v3.PathItem
}

// New loads the embedded document and builds a validator for it. Building
// fails when the document does not parse or a $ref does not resolve.
func New() (*Validator, error) {
	doc, err := libopenapi.NewDocument(openapi.YAMLSource())
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	built, err := doc.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: build model: %w", err)
	}
	if built == nil {
		return nil, errors.New("openapi.yaml: build model: no model")
	}
	val, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		return nil, fmt.Errorf("openapi.yaml: build validator: %w", errors.Join(errs...))
	}
	v := &Validator{
		doc: doc, model: &built.Model, v: val, opts: config.NewValidationOptions(),
		head: responses.NewResponseBodyValidator(&built.Model, config.WithoutResponseBodyValidation()),
	}
	tooLarge := unmatched{"413", "ContentTooLarge"}
	if v.noPath, err = v.syntheticPathItem(unmatched{"404", "NotFound"}, tooLarge); err != nil {
		return nil, err
	}
	if v.noMethod, err = v.syntheticPathItem(unmatched{"405", "MethodNotAllowed"}, tooLarge); err != nil {
		return nil, err
	}
	return v, nil
}

// Load is New for tests: it fails t when the document cannot be loaded.
func Load(t testing.TB) *Validator {
	t.Helper()
	v, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Model returns the document's model, for tests that inspect the document.
func (v *Validator) Model() *v3.Document { return v.model }

// syntheticPathItem serves every method with one operation whose responses
// are the named component responses, keyed by the status each one pins.
func (v *Validator) syntheticPathItem(answers ...unmatched) (*v3.PathItem, error) {
	codes := orderedmap.New[string, *v3.Response]()
	for _, a := range answers {
		r := v.component(a.component)
		if r == nil {
			return nil, fmt.Errorf("openapi.yaml: components/responses/%s is missing", a.component)
		}
		codes.Set(a.status, r)
	}
	op := &v3.Operation{OperationId: "(no matching operation)", Responses: &v3.Responses{Codes: codes}}
	return &v3.PathItem{
		Get: op, Put: op, Post: op, Delete: op, Options: op, Head: op, Patch: op, Trace: op,
	}, nil
}

func (v *Validator) component(name string) *v3.Response {
	if v.model.Components == nil || v.model.Components.Responses == nil {
		return nil
	}
	return v.model.Components.Responses.GetOrZero(name)
}

// ValidateDocument checks the document against the OpenAPI 3.1 schema.
func (v *Validator) ValidateDocument() error {
	if ok, errs := v.v.ValidateDocument(); !ok {
		return newError("the document is not valid OpenAPI "+v.doc.GetVersion(), errs)
	}
	if !strings.HasPrefix(v.doc.GetVersion(), "3.1.") {
		return fmt.Errorf("the document declares OpenAPI %s, want 3.1.x", v.doc.GetVersion())
	}
	// The OpenAPI 3.1 schema leaves Schema Objects to JSON Schema, so a typo
	// such as `type: intger` passes the check above. Compile every schema
	// against the JSON Schema 2020-12 meta-schema as well.
	var problems []string
	compiled := map[string]bool{} // a $ref'd schema is compiled once, under its first name
	for where, proxy := range v.schemas() {
		schema := proxy.Schema()
		if schema == nil {
			problems = append(problems, fmt.Sprintf("%s: %v", where, proxy.GetBuildError()))
			continue
		}
		raw, err := schema.MarshalJSONInline()
		if err == nil {
			if compiled[string(raw)] {
				continue
			}
			compiled[string(raw)] = true
			_, err = helpers.NewCompiledSchema("schema.json", raw, v.opts)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", where, err))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return errors.New("schemas that are not valid JSON Schema 2020-12:\n  " + strings.Join(problems, "\n  "))
	}
	return nil
}

// schemas yields every schema of the document that a Fiscus request or
// response uses, named by where it appears.
func (v *Validator) schemas() iter.Seq2[string, *base.SchemaProxy] {
	return func(yield func(string, *base.SchemaProxy) bool) {
		ok := true
		emit := func(where string, p *base.SchemaProxy) {
			if ok && p != nil {
				ok = yield(where, p)
			}
		}
		response := func(where string, r *v3.Response) {
			for mt, media := range r.Content.FromOldest() {
				emit(where+" "+mt, media.Schema)
			}
			for name, h := range r.Headers.FromOldest() {
				emit(where+" header "+name, h.Schema)
			}
		}
		if c := v.model.Components; c != nil {
			for name, p := range c.Schemas.FromOldest() {
				emit("components/schemas/"+name, p)
			}
			for name, r := range c.Responses.FromOldest() {
				response("components/responses/"+name, r)
			}
			for name, p := range c.Parameters.FromOldest() {
				emit("components/parameters/"+name, p.Schema)
			}
			for name, h := range c.Headers.FromOldest() {
				emit("components/headers/"+name, h.Schema)
			}
		}
		for path, item := range v.model.Paths.PathItems.FromOldest() {
			for method, op := range item.GetOperations().FromOldest() {
				where := strings.ToUpper(method) + " " + path
				for _, p := range op.Parameters {
					emit(where+" parameter "+p.Name, p.Schema)
				}
				if op.RequestBody != nil {
					for mt, media := range op.RequestBody.Content.FromOldest() {
						emit(where+" request "+mt, media.Schema)
					}
				}
				if op.Responses != nil {
					for code, r := range op.Responses.Codes.FromOldest() {
						response(where+" "+code, r)
					}
				}
			}
		}
	}
}

// Operations lists every operation as "METHOD /path/{param}", sorted; the
// same form as httpapi.Server.Patterns.
func (v *Validator) Operations() []string {
	var ops []string
	if v.model.Paths == nil {
		return nil
	}
	for path, item := range v.model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().KeysFromOldest() {
			ops = append(ops, strings.ToUpper(method)+" "+path)
		}
	}
	sort.Strings(ops)
	return ops
}

// ValidateRequest checks a request's path, query, header and cookie
// parameters and its body against the operation it matches. A request that
// matches no operation is an error.
func (v *Validator) ValidateRequest(req *http.Request) error {
	if ok, errs := v.v.ValidateHttpRequestSync(req); !ok {
		return newError(fmt.Sprintf("request %s %s does not match the document", req.Method, req.URL.Path), errs)
	}
	return nil
}

// ValidateResponse checks the response res that the server gave to req. The
// body of res is read and replaced, so the caller can still read it.
func (v *Validator) ValidateResponse(req *http.Request, res *http.Response) error {
	if isPreflight(req) {
		return nil // CORS preflights are answered by the CORS layer, not an operation
	}
	what := fmt.Sprintf("response %d to %s %s", res.StatusCode, req.Method, req.URL.Path)
	rv := v.v.GetResponseBodyValidator()
	if req.Method == http.MethodHead {
		rv = v.head
	}
	item, errs, found := paths.FindPath(req, v.model, v.opts)
	var ok bool
	switch {
	case item != nil && len(errs) == 0:
		ok, errs = rv.ValidateResponseBodyWithPathItem(req, res, item, found)
	case hasMissingOperation(errs):
		what += " (the path has no " + req.Method + " operation)"
		ok, errs = rv.ValidateResponseBodyWithPathItem(req, res, v.noMethod, found)
	case hasMissingPath(errs):
		what += " (no operation has this path)"
		ok, errs = rv.ValidateResponseBodyWithPathItem(req, res, v.noPath, req.URL.Path)
	default:
		return newError(what+": cannot match the request to the document", errs)
	}
	if !ok {
		return newError(what+" does not match the document", errs)
	}
	return nil
}

// CheckResponse reports on t when res, the answer to req, does not validate.
func (v *Validator) CheckResponse(t testing.TB, req *http.Request, res *http.Response) {
	t.Helper()
	if err := v.ValidateResponse(req, res); err != nil {
		t.Error(err)
	}
}

// Transport returns a RoundTripper that sends requests through base (nil:
// http.DefaultTransport) and reports on t every response that does not
// validate. Give it to the http.Client of an end-to-end test so that no
// response escapes the contract.
func (v *Validator) Transport(t testing.TB, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{t: t, v: v, base: base}
}

type transport struct {
	t    testing.TB
	v    *Validator
	base http.RoundTripper
}

func (tr *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := tr.base.RoundTrip(req)
	if err != nil {
		return res, err
	}
	// Buffer the body so both the validator and the caller can read it; a
	// streaming response (text/event-stream) is left alone.
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		return res, nil
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxBodyBytes+1))
	_ = res.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("openapitest: read response body: %w", err)
	}
	if len(body) > maxBodyBytes {
		tr.t.Errorf("openapitest: response to %s %s exceeds %d bytes; not validated", req.Method, req.URL.Path, maxBodyBytes)
		res.Body = io.NopCloser(bytes.NewReader(body))
		return res, nil
	}
	check := *res
	check.Body = io.NopCloser(bytes.NewReader(body))
	if err := tr.v.ValidateResponse(req, &check); err != nil {
		tr.t.Error(err)
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	return res, nil
}

// ValidateSchema checks a JSON value against components/schemas/<name>.
func (v *Validator) ValidateSchema(name string, value []byte) error {
	if v.model.Components == nil || v.model.Components.Schemas == nil {
		return errors.New("the document has no component schemas")
	}
	proxy := v.model.Components.Schemas.GetOrZero(name)
	if proxy == nil {
		return fmt.Errorf("components/schemas/%s does not exist", name)
	}
	schema := proxy.Schema()
	if schema == nil {
		return fmt.Errorf("components/schemas/%s: %w", name, proxy.GetBuildError())
	}
	if ok, errs := schema_validation.NewSchemaValidator().ValidateSchemaBytesWithVersion(schema, value, 3.1); !ok {
		return newError(fmt.Sprintf("%s does not validate against components/schemas/%s", value, name), errs)
	}
	return nil
}

// ValidateExamples checks every example of a JSON body, in operations and in
// component responses, against its schema, so the documentation never shows
// a body the server could not send.
func (v *Validator) ValidateExamples() error {
	var problems []string
	seen := map[*yaml.Node]bool{} // a $ref'd response is checked once, under its first name
	checkContent := func(where string, content *orderedmap.Map[string, *v3.MediaType]) {
		for mt, media := range content.FromOldest() {
			if !strings.Contains(mt, "json") || media.Schema == nil {
				continue
			}
			examples := map[string]*yaml.Node{}
			if media.Example != nil && !seen[media.Example] {
				examples["example"] = media.Example
			}
			for name, ex := range media.Examples.FromOldest() {
				if ex != nil && ex.Value != nil && !seen[ex.Value] {
					examples["examples/"+name] = ex.Value
				}
			}
			for name, node := range examples {
				seen[node] = true
				var value any
				if err := node.Decode(&value); err != nil {
					problems = append(problems, fmt.Sprintf("%s %s %s: %v", where, mt, name, err))
					continue
				}
				raw, err := json.Marshal(value)
				if err != nil {
					problems = append(problems, fmt.Sprintf("%s %s %s: %v", where, mt, name, err))
					continue
				}
				schema := media.Schema.Schema()
				if schema == nil {
					continue // an unresolvable schema fails the model build already
				}
				if ok, errs := schema_validation.NewSchemaValidator().ValidateSchemaBytesWithVersion(schema, raw, 3.1); !ok {
					problems = append(problems, newError(fmt.Sprintf("%s %s %s", where, mt, name), errs).Error())
				}
			}
		}
	}
	if v.model.Components != nil {
		for name, res := range v.model.Components.Responses.FromOldest() {
			checkContent("components/responses/"+name, res.Content)
		}
	}
	for path, item := range v.model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			if op.Responses == nil {
				continue
			}
			for code, res := range op.Responses.Codes.FromOldest() {
				checkContent(fmt.Sprintf("%s %s %s", strings.ToUpper(method), path, code), res.Content)
			}
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return errors.New("examples that do not validate against their schema:\n" + strings.Join(problems, "\n"))
	}
	return nil
}

func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}

func hasMissingPath(errs []*valerrors.ValidationError) bool {
	for _, e := range errs {
		if e.IsPathMissingError() {
			return true
		}
	}
	return false
}

func hasMissingOperation(errs []*valerrors.ValidationError) bool {
	for _, e := range errs {
		if e.IsOperationMissingError() {
			return true
		}
	}
	return false
}

// Error lists every way traffic or the document disagrees with the document.
type Error struct {
	What     string
	Problems []*valerrors.ValidationError
}

func newError(what string, errs []*valerrors.ValidationError) *Error {
	return &Error{What: what, Problems: errs}
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.What)
	b.WriteString(":")
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  - %s", p.Message)
		if p.Reason != "" && p.Reason != p.Message {
			fmt.Fprintf(&b, ": %s", p.Reason)
		}
		if p.SpecLine > 0 {
			fmt.Fprintf(&b, " (openapi.yaml line %d)", p.SpecLine)
		}
		for _, f := range p.SchemaValidationErrors {
			loc := f.FieldPath
			if loc == "" {
				loc = "$"
			}
			fmt.Fprintf(&b, "\n      %s: %s", loc, f.Reason)
			if f.KeywordLocation != "" {
				fmt.Fprintf(&b, " [schema %s]", f.KeywordLocation)
			}
		}
	}
	return b.String()
}
