package test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryTestIsParallel keeps the suite parallel (see the package
// comment): every top-level test of this package calls t.Parallel() or
// alone(t) among its first two statements (the second for a test that is
// its own child process first). A test that runs on its own holds up every
// parallel test behind it.
func TestEveryTestIsParallel(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*_test.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files found: %v", err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Test") || fn.Name.Name == "TestMain" || fn.Body == nil {
				continue
			}
			checked++
			stmts := fn.Body.List[:min(2, len(fn.Body.List))]
			ok = false
			for _, s := range stmts {
				ok = ok || isParallelCall(s) || isAloneCheck(s)
			}
			if !ok {
				t.Errorf("%s: %s starts with neither t.Parallel() nor `if !alone(t) { return }`", fset.Position(fn.Pos()), fn.Name.Name)
			}
		}
	}
	if checked < 40 {
		t.Errorf("only %d tests found: is the check still reading this package?", checked)
	}
}

// isParallelCall matches `t.Parallel()`.
func isParallelCall(s ast.Stmt) bool {
	e, ok := s.(*ast.ExprStmt)
	if !ok {
		return false
	}
	c, ok := e.X.(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := c.Fun.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "Parallel" && len(c.Args) == 0
}

// isAloneCheck matches `if !alone(t, …) { … }`.
func isAloneCheck(s ast.Stmt) bool {
	i, ok := s.(*ast.IfStmt)
	if !ok {
		return false
	}
	u, ok := i.Cond.(*ast.UnaryExpr)
	if !ok || u.Op != token.NOT {
		return false
	}
	c, ok := u.X.(*ast.CallExpr)
	if !ok {
		return false
	}
	id, ok := c.Fun.(*ast.Ident)
	return ok && id.Name == "alone"
}
