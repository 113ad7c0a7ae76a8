package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/openapi"
)

// mustLoadSpec loads the API contract and its documentation page. The
// document is rendered to JSON and fingerprinted once, here; requests only
// copy bytes.
func mustLoadSpec() *openapi.Spec {
	spec, err := openapi.Load()
	if err != nil {
		// The files are embedded at build time and the openapi tests load
		// them, so this is a broken build, not a runtime condition.
		panic(fmt.Sprintf("httpapi: load the embedded OpenAPI document: %v", err))
	}
	return spec
}

// handleDocsAsset serves the scripts, style sheets and license texts of the
// documentation page.
func handleDocsAsset(spec *openapi.Spec) apiFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		res, ok := spec.DocsAsset(r.PathValue("asset"))
		if !ok {
			return fault.New(fault.NotFound, "No such resource.")
		}
		writeResource(w, r, res)
		return nil
	}
}

func serveResource(res openapi.Resource) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeResource(w, r, res) })
}

// writeResource writes fixed bytes that clients may cache but must revalidate:
// a request whose If-None-Match names the current ETag gets 304 and no body.
func writeResource(w http.ResponseWriter, r *http.Request, res openapi.Resource) {
	h := w.Header()
	h.Set("ETag", res.ETag)
	h.Set("Cache-Control", "no-cache")
	if etagMatches(r.Header.Get("If-None-Match"), res.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", res.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(res.Body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(res.Body)
}

// etagMatches applies If-None-Match's weak comparison (RFC 9110 §13.1.2): the
// header lists entity tags, or is "*"; W/ prefixes are ignored.
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	for candidate := range strings.SplitSeq(header, ",") {
		candidate = strings.TrimSpace(candidate)
		if candidate == "*" || strings.TrimPrefix(candidate, "W/") == etag {
			return true
		}
	}
	return false
}
