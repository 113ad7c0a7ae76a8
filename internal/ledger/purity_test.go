package ledger_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// pureImports are the only packages the non-test code of money and ledger
// may import: no I/O, no randomness, no clock. time is there for the
// time.Time values callers pass in; reading the clock is refused below.
var pureImports = map[string]bool{
	"errors": true, "fmt": true, "math": true, "math/bits": true, "slices": true, "sort": true,
	"strconv": true, "strings": true, "unicode/utf8": true, "time": true,
	"github.com/fiscus/fiscus/internal/fault": true,
	"github.com/fiscus/fiscus/internal/money": true,
}

// clockFuncs read or wait on the clock.
var clockFuncs = map[string]bool{
	"Now": true, "Since": true, "Until": true, "Sleep": true, "After": true,
	"AfterFunc": true, "Tick": true, "NewTimer": true, "NewTicker": true,
}

// TestCoreIsPure fails if the ledger core or package money imports anything
// that could do I/O, draw randomness or read the clock.
func TestCoreIsPure(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{".", "../money"} {
		paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range paths {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, src, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if !pureImports[p] {
					t.Errorf("%s imports %s, which the pure core may not use", path, p)
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if x, ok := sel.X.(*ast.Ident); ok && x.Name == "time" && clockFuncs[sel.Sel.Name] {
						t.Errorf("%s reads the clock: time.%s", path, sel.Sel.Name)
					}
				}
				return true
			})
		}
	}
}
