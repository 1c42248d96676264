package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"testing"
)

func problemsIn(t *testing.T, src string) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok {
			out = append(out, check(fset, fn)...)
		}
	}
	return out
}

func TestLockcheck(t *testing.T) {
	src := `package p
func unlocked(st *state) { lib.Free(st.p) }
func locked(st *state) { st.lock(); defer st.unlock(); lib.Free(st.p) }
func freeLocked(st *state) { lib.Free(st.p) }
//lockcheck:ok fresh object
func exempted() { lib.New() }
func closure(st *state) { st.userauth(func(p lib.Session) int { return lib.UserauthNone(p) }) }
func badClosure(st *state) { go func() { lib.Free(st.p) }() }
`
	got := problemsIn(t, src)
	want := []string{
		"x.go:2:28: lib.Free called in unlocked without the session lock",
		"x.go:8:42: lib.Free called in badClosure without the session lock",
	}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("got %q, want %q", got[i], want[i])
		}
	}
}
