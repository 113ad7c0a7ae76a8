package money_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// moneyPaths lists, relative to the module root, every package directory
// that touches money, quantities or prices. No floating point may appear in
// them (tests included). Packages that handle amounts add themselves here.
var moneyPaths = []string{
	"internal/money",
	"internal/ledger",
	"internal/accounts",
	"internal/transfer",
	"internal/policy",
	"internal/risk",
}

// floatTypes are the predeclared floating-point types.
var floatTypes = map[string]bool{"float32": true, "float64": true, "complex64": true, "complex128": true}

// mathAllowed are the only members of package math that money code may use:
// integer limits. Everything else in math works on floats.
var mathAllowed = map[string]bool{
	"MaxInt": true, "MinInt": true, "MaxInt8": true, "MinInt8": true, "MaxInt16": true, "MinInt16": true,
	"MaxInt32": true, "MinInt32": true, "MaxInt64": true, "MinInt64": true, "MaxUint": true,
	"MaxUint8": true, "MaxUint16": true, "MaxUint32": true, "MaxUint64": true,
}

// floatFuncs are members of other packages that produce or consume floats,
// flagged whatever package they are selected from (strconv.ParseFloat,
// big.NewFloat, rapid.Float64, …).
var floatFuncs = map[string]bool{
	"ParseFloat": true, "FormatFloat": true, "AppendFloat": true, "Float": true, "NewFloat": true,
	"Float32": true, "Float64": true, "Float32Range": true, "Float64Range": true, "ParseComplex": true,
	"FormatComplex": true, "Float64bits": true, "Float64frombits": true, "Float32bits": true,
	"Float32frombits": true, "ExpFloat64": true, "NormFloat64": true,
}

// floatUses parses one Go source file and describes every floating-point
// use in it.
func floatUses(fset *token.FileSet, name string, src any) ([]string, error) {
	file, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var found []string
	report := func(n ast.Node, what string) {
		found = append(found, fmt.Sprintf("%s: %s", fset.Position(n.Pos()), what))
	}
	mathName := "" // the local name of an import of "math", if any
	for _, imp := range file.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		switch path {
		case "math":
			mathName = "math"
			if imp.Name != nil {
				mathName = imp.Name.Name
			}
			if mathName == "." || mathName == "_" {
				report(imp, "dot or blank import of math")
			}
		case "math/cmplx":
			report(imp, "import of math/cmplx")
		}
	}
	ast.Inspect(file, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.BasicLit:
			if n.Kind == token.FLOAT || n.Kind == token.IMAG {
				report(n, "floating-point literal "+n.Value)
			}
		case *ast.SelectorExpr:
			if x, ok := n.X.(*ast.Ident); ok && mathName != "" && x.Name == mathName && !mathAllowed[n.Sel.Name] {
				report(n, "math."+n.Sel.Name)
			}
			if floatFuncs[n.Sel.Name] {
				report(n, "float function "+n.Sel.Name)
			}
			// Only X can be a predeclared type; Sel is a member name.
			ast.Inspect(n.X, func(m ast.Node) bool {
				if id, ok := m.(*ast.Ident); ok && floatTypes[id.Name] {
					report(id, "type "+id.Name)
				}
				return true
			})
			return false
		case *ast.Ident:
			if floatTypes[n.Name] {
				report(n, "type "+n.Name)
			}
		}
		return true
	})
	return found, nil
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// TestNoFloatingPointOnMoneyPaths walks the Go source of every money package
// and fails on any float type, float literal, float function or math use
// beyond integer limits.
func TestNoFloatingPointOnMoneyPaths(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)
	fset := token.NewFileSet()
	files := 0
	for _, rel := range moneyPaths {
		err := filepath.WalkDir(filepath.Join(root, rel), func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") {
				return nil
			}
			files++
			uses, err := floatUses(fset, path, nil)
			if err != nil {
				return err
			}
			for _, u := range uses {
				t.Errorf("floating point on a money path: %s", u)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("walk %s: %v", rel, err)
		}
	}
	if files == 0 {
		t.Fatal("no Go files checked")
	}
}

// TestFloatUsesDetects proves the checker can fail: each snippet must be
// flagged, and the clean one must not.
func TestFloatUsesDetects(t *testing.T) {
	t.Parallel()
	flagged := map[string]string{
		"var type":      "package p\nvar x float64",
		"float32 param": "package p\nfunc f(x float32) {}",
		"conversion":    "package p\nfunc f(n int64) any { return float64(n) }",
		"literal":       "package p\nvar x = 1.5",
		"exp literal":   "package p\nvar x = 1e3",
		"imag literal":  "package p\nvar x = 2i",
		"complex":       "package p\nvar x complex128",
		"math func":     "package p\nimport \"math\"\nvar x = math.Round(2)",
		"math renamed":  "package p\nimport m \"math\"\nvar x = m.Floor(2)",
		"math const":    "package p\nimport \"math\"\nvar x = math.Pi",
		"math dot":      "package p\nimport . \"math\"\nvar x = MaxInt64",
		"cmplx":         "package p\nimport \"math/cmplx\"\nvar x = cmplx.Abs",
		"strconv":       "package p\nimport \"strconv\"\nvar x, _ = strconv.ParseFloat(\"1\", 64)",
		"big float":     "package p\nimport \"math/big\"\nvar x = big.NewFloat(1)",
		"big type":      "package p\nimport \"math/big\"\nvar x big.Float",
		"generic":       "package p\nfunc f[T ~int64 | ~float64](x T) T { return x }",
		"slice":         "package p\nvar x []float64",
		"composite":     "package p\nvar x = map[string]float32{}",
	}
	for name, src := range flagged {
		uses, err := floatUses(token.NewFileSet(), name+".go", src)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(uses) == 0 {
			t.Errorf("%s: float use not detected in %q", name, src)
		}
	}
	clean := "package p\nimport (\"math\"; \"math/big\"; \"strconv\")\n" +
		"var a = math.MaxInt64\nvar b = math.MinInt64\nvar c = big.NewInt(1)\nvar d = strconv.FormatInt(1, 10)\n" +
		"var e = \"float64 1.5 math.Round\"\nvar f = 'x'\nvar g = 0x1F\nvar h = 1_000\n"
	uses, err := floatUses(token.NewFileSet(), "clean.go", clean)
	if err != nil {
		t.Fatal(err)
	}
	if len(uses) != 0 {
		t.Errorf("clean source flagged: %v", uses)
	}
}
