// Command lockcheck is the static half of package libssh's lock
// discipline (docs/design.md, "Checking the lock discipline"): every call
// into package lib (that is, into libssh) must be in a function that deals
// with the session's lock. `make lint` runs it on the repository root.
//
// What it checks, exactly: a call lib.X(...) is accepted when the function
// making it
//   - calls one of the lock's entry points anywhere in its body: lock,
//     lockCtx, tryLock, lockInterrupting, begin, inspect or drive (whose
//     step closures run with the lock held), or a mutex's Lock/RLock, as the
//     key type does; or
//   - is named ...Locked (its callers hold the lock); or
//   - is a function literal that receives a lib.Session or lib.Channel (it
//     is called by the code holding the lock, as the userauth closures
//     are); or
//   - says why it needs no lock in a directive "//lockcheck:ok <reason>" in
//     its doc comment (it touches no C object another goroutine can reach).
//
// It is syntactic, not flow-sensitive: it proves that the function takes
// the lock somewhere, not that the lock is held at the call. The proof that
// it is held is the run-time check of the lockassert build tag, which CI
// runs (lib/lockassert.go, lockassert.go).
//
// Usage: go run ./internal/lockcheck [DIR]
package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	dir := "."
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lockcheck:", err)
		os.Exit(2)
	}
	var problems []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		// Every file, whatever its build tags: a call without the lock is
		// wrong in any build.
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments)
		if err != nil {
			fmt.Fprintln(os.Stderr, "lockcheck:", err)
			os.Exit(2)
		}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Body != nil {
				problems = append(problems, check(fset, fn)...)
			}
		}
	}
	sort.Strings(problems)
	for _, p := range problems {
		fmt.Println(p)
	}
	if len(problems) > 0 {
		fmt.Printf("lockcheck: %d call(s) into libssh without the session lock\n", len(problems))
		os.Exit(1)
	}
}

func check(fset *token.FileSet, fn *ast.FuncDecl) []string {
	if strings.HasSuffix(fn.Name.Name, "Locked") || exempt(fn.Doc) || takesLock(fn.Body) {
		return nil
	}
	var problems []string
	walk := func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.FuncLit:
			if receivesSession(x.Type) || takesLock(x.Body) {
				return false
			}
		case *ast.CallExpr:
			if sel, ok := x.Fun.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == "lib" {
					problems = append(problems, fmt.Sprintf("%s: lib.%s called in %s without the session lock",
						fset.Position(x.Pos()), sel.Sel.Name, fn.Name.Name))
				}
			}
		}
		return true
	}
	ast.Inspect(fn.Body, walk)
	return problems
}

func exempt(doc *ast.CommentGroup) bool {
	if doc == nil {
		return false
	}
	for _, c := range doc.List {
		if strings.HasPrefix(c.Text, "//lockcheck:ok ") {
			return true
		}
	}
	return false
}

// takesLock reports whether body calls one of the lock's entry points.
func takesLock(body *ast.BlockStmt) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		if call, ok := n.(*ast.CallExpr); ok {
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
				switch sel.Sel.Name {
				case "lock", "lockCtx", "tryLock", "lockInterrupting", "begin", "inspect", "drive", "Lock", "RLock":
					found = true
				}
			}
		}
		return !found
	})
	return found
}

func receivesSession(ft *ast.FuncType) bool {
	for _, p := range ft.Params.List {
		if sel, ok := p.Type.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == "lib" && (sel.Sel.Name == "Session" || sel.Sel.Name == "Channel") {
				return true
			}
		}
	}
	return false
}
