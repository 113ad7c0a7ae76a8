package openapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

func TestLoadRendersTheSameDocumentAsJSON(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	var fromYAML, fromJSON any
	if err := yaml.Unmarshal(s.YAML().Body, &fromYAML); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(s.JSON().Body))
	dec.UseNumber()
	if err := dec.Decode(&fromJSON); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if !reflect.DeepEqual(normalize(t, fromYAML), normalize(t, fromJSON)) {
		t.Fatal("openapi.json and openapi.yaml describe different documents")
	}
	// Key order survives, so the JSON reads like the YAML.
	js := string(s.JSON().Body)
	if i, j := strings.Index(js, `"openapi"`), strings.Index(js, `"paths"`); i < 0 || j < 0 || i > j {
		t.Error(`"openapi" should come before "paths", as in the YAML`)
	}
	if s.YAML().ContentType != "application/yaml" || s.JSON().ContentType != "application/json" {
		t.Errorf("content types %q, %q", s.YAML().ContentType, s.JSON().ContentType)
	}
}

// normalize makes YAML and JSON decodings comparable: both become what
// encoding/json produces with UseNumber.
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestYAMLToJSONKeepsOrderAndRefusesBrokenYAML(t *testing.T) {
	got, err := yamlToJSON([]byte("b: 1\na:\n  - x\n  - 'y: z'\nc: |\n  two\n  lines\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"b\": 1,\n  \"a\": [\n    \"x\",\n    \"y: z\"\n  ],\n  \"c\": \"two\\nlines\\n\"\n}\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if _, err := yamlToJSON([]byte("a: [1, 2\nb: }")); err == nil {
		t.Error("broken YAML converted without an error")
	}
}

func TestResourcesHaveStrongDistinctETags(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	check := func(name string, r Resource) {
		t.Helper()
		if len(r.Body) == 0 {
			t.Errorf("%s is empty", name)
		}
		if len(r.ETag) < 10 || r.ETag[0] != '"' || r.ETag[len(r.ETag)-1] != '"' || strings.HasPrefix(r.ETag, "W/") {
			t.Errorf("%s: ETag %q is not a quoted strong validator", name, r.ETag)
		}
		if other, dup := seen[r.ETag]; dup {
			t.Errorf("%s and %s share ETag %s", name, other, r.ETag)
		}
		seen[r.ETag] = name
	}
	check("yaml", s.YAML())
	check("json", s.JSON())
	check("docs", s.DocsPage())
	for _, name := range DocsAssetNames() {
		r, ok := s.DocsAsset(name)
		if !ok {
			t.Fatalf("asset %s is listed but not served", name)
		}
		check(name, r)
	}
	if _, ok := s.DocsAsset("../openapi.go"); ok {
		t.Error("an unlisted name was served")
	}
	// The same bytes give the same ETag, so replicas agree.
	a, b := newResource([]byte("x"), "text/plain"), newResource([]byte("x"), "text/plain")
	if a.ETag != b.ETag || a.ETag == newResource([]byte("y"), "text/plain").ETag {
		t.Error("ETag is not a function of the bytes")
	}
}

// TestDocsPageUsesOnlyItsOwnAssets keeps the page working offline and under
// the server's Content-Security-Policy (no inline script or style, nothing
// from another origin).
func TestDocsPageUsesOnlyItsOwnAssets(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	page := string(s.DocsPage().Body)
	for _, bad := range []string{"<style", "style=", "http://", "https://", "//cdn", "onload=", "javascript:"} {
		if strings.Contains(page, bad) {
			t.Errorf("the docs page contains %q", bad)
		}
	}
	for _, tag := range []string{`<script src="docs/swagger-ui-bundle.js"></script>`, `<script src="docs/fiscus-docs.js"></script>`,
		`href="docs/swagger-ui.css"`, `href="docs/fiscus-docs.css"`} {
		if !strings.Contains(page, tag) {
			t.Errorf("the docs page lacks %s", tag)
		}
	}
	if strings.Count(page, "<script") != 2 {
		t.Errorf("the docs page has %d scripts, want the two asset files", strings.Count(page, "<script"))
	}
	init, _ := s.DocsAsset("fiscus-docs.js")
	for _, want := range []string{`url: "openapi.json"`, "validatorUrl: null"} {
		if !bytes.Contains(init.Body, []byte(want)) {
			t.Errorf("fiscus-docs.js lacks %s", want)
		}
	}
}
