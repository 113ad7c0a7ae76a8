// Package openapi holds Fiscus's API contract: the hand-written OpenAPI 3.1
// document (openapi.yaml, embedded), its JSON rendering, and the offline
// documentation page that renders it (Swagger UI, vendored under docs/).
//
// The YAML file is the source of truth. Load converts it to JSON once, keeping
// the order of keys, and fingerprints every representation for ETags, so the
// HTTP layer serves fixed bytes and never converts per request. Tests in
// internal/httpapi fail when the routes the server registers and the
// operations in the document drift apart, and package openapitest validates
// real responses against the document.
package openapi

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/goccy/go-yaml"
)

// specYAML is the contract, as written.
//
//go:embed openapi.yaml
var specYAML []byte

//go:embed docs/index.html docs/fiscus-docs.js docs/fiscus-docs.css docs/swagger-ui
var docsFS embed.FS

// Media types of the served representations.
const (
	YAMLContentType = "application/yaml"
	JSONContentType = "application/json"
	HTMLContentType = "text/html; charset=utf-8"
)

// Resource is one served representation: fixed bytes, their media type and a
// strong ETag (a quoted digest of the bytes).
type Resource struct {
	Body        []byte
	ContentType string
	ETag        string
}

func newResource(body []byte, contentType string) Resource {
	sum := sha256.Sum256(body)
	return Resource{
		Body:        body,
		ContentType: contentType,
		ETag:        `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`,
	}
}

// docsAssets maps the names served under /docs/ to embedded files. The
// document's enum of the {asset} path parameter lists the same names; a test
// keeps the two equal.
var docsAssets = map[string]struct{ file, contentType string }{
	"fiscus-docs.js":                   {"docs/fiscus-docs.js", "text/javascript; charset=utf-8"},
	"fiscus-docs.css":                  {"docs/fiscus-docs.css", "text/css; charset=utf-8"},
	"swagger-ui-bundle.js":             {"docs/swagger-ui/swagger-ui-bundle.js", "text/javascript; charset=utf-8"},
	"swagger-ui.css":                   {"docs/swagger-ui/swagger-ui.css", "text/css; charset=utf-8"},
	"swagger-ui-bundle.js.LICENSE.txt": {"docs/swagger-ui/swagger-ui-bundle.js.LICENSE.txt", "text/plain; charset=utf-8"},
	"swagger-ui.LICENSE.txt":           {"docs/swagger-ui/LICENSE", "text/plain; charset=utf-8"},
	"swagger-ui.NOTICE.txt":            {"docs/swagger-ui/NOTICE", "text/plain; charset=utf-8"},
}

// Spec is the loaded contract and documentation page, ready to serve. It is
// immutable and safe for concurrent use.
type Spec struct {
	yaml, json, docs Resource
	assets           map[string]Resource
}

// Load renders the embedded document to JSON and prepares the documentation
// page. It fails only if the embedded files are broken, which the package's
// tests rule out before a build ships.
func Load() (*Spec, error) {
	js, err := yamlToJSON(specYAML)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	page, err := docsFS.ReadFile("docs/index.html")
	if err != nil {
		return nil, err
	}
	s := &Spec{
		yaml:   newResource(specYAML, YAMLContentType),
		json:   newResource(js, JSONContentType),
		docs:   newResource(page, HTMLContentType),
		assets: make(map[string]Resource, len(docsAssets)),
	}
	for name, a := range docsAssets {
		b, err := docsFS.ReadFile(a.file)
		if err != nil {
			return nil, err
		}
		s.assets[name] = newResource(b, a.contentType)
	}
	return s, nil
}

// YAML returns the document as written.
func (s *Spec) YAML() Resource { return s.yaml }

// JSON returns the document rendered as JSON, keys in the order written.
func (s *Spec) JSON() Resource { return s.json }

// DocsPage returns the HTML documentation page served at /docs.
func (s *Spec) DocsPage() Resource { return s.docs }

// DocsAsset returns a file the documentation page loads from /docs/{name}.
func (s *Spec) DocsAsset(name string) (Resource, bool) {
	r, ok := s.assets[name]
	return r, ok
}

// DocsAssetNames lists the names DocsAsset serves, sorted.
func DocsAssetNames() []string {
	names := make([]string, 0, len(docsAssets))
	for n := range docsAssets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// YAMLSource returns the embedded document as written (for validators and
// tests; servers use Load).
func YAMLSource() []byte { return bytes.Clone(specYAML) }

// yamlToJSON converts YAML to indented JSON without reordering keys, so the
// JSON reads like the YAML and Swagger UI shows schemas in the written order.
func yamlToJSON(y []byte) ([]byte, error) {
	flow, err := yaml.YAMLToJSON(y)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, bytes.TrimSpace(flow), "", "  "); err != nil {
		return nil, fmt.Errorf("rendered JSON is not valid: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}
