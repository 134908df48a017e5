package cpu

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"hallucinator/kernels"
)

// TestNoInheritedMethods lists every method of kernels.Backend and of the
// capabilities that this package does not declare on *Backend itself: one
// reached through an embedded field would run at that field's speed without
// anyone having chosen it.
func TestNoInheritedMethods(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	declared := map[string]bool{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || len(fn.Recv.List) != 1 {
				continue
			}
			if star, ok := fn.Recv.List[0].Type.(*ast.StarExpr); ok {
				if id, ok := star.X.(*ast.Ident); ok && id.Name == "Backend" {
					declared[fn.Name.Name] = true
				}
			}
		}
	}
	var missing []string
	for _, it := range []reflect.Type{
		reflect.TypeFor[kernels.Backend](),
		reflect.TypeFor[kernels.InfoNCEBackend](),
		reflect.TypeFor[kernels.HallucinatorBackend](),
		reflect.TypeFor[kernels.SGDBackend](),
		reflect.TypeFor[kernels.LARSBackend](),
		reflect.TypeFor[kernels.AdamWBackend](),
		reflect.TypeFor[kernels.EMABackend](),
	} {
		if !reflect.TypeFor[*Backend]().Implements(it) {
			t.Errorf("*Backend does not implement %v", it)
		}
		for i := range it.NumMethod() {
			if m := it.Method(i).Name; !declared[m] {
				missing = append(missing, it.Name()+"."+m)
			}
		}
	}
	if len(missing) > 0 {
		t.Fatalf("methods not declared by package cpu (inherited or missing): %v", missing)
	}
	st := reflect.TypeFor[Backend]()
	for i := range st.NumField() {
		if f := st.Field(i); f.Anonymous {
			t.Errorf("Backend embeds %v: its methods would be inherited", f.Type)
		}
	}
}
