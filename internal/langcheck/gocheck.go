package langcheck

import (
	"errors"
	"go/parser"
	"go/scanner"
	"go/token"
)

// checkGo parses Go source with the standard library's go/parser, asking
// for all errors (not just the first ten of distinct lines).
func checkGo(path string, content []byte) []Problem {
	fset := token.NewFileSet()
	_, err := parser.ParseFile(fset, path, content, parser.AllErrors|parser.SkipObjectResolution)
	if err == nil {
		return nil
	}
	var list scanner.ErrorList
	if !errors.As(err, &list) {
		return []Problem{{Message: err.Error()}}
	}
	var ps []Problem
	for _, e := range list {
		ps = append(ps, Problem{Line: e.Pos.Line, Column: e.Pos.Column, Message: e.Msg})
		if len(ps) == maxProblems {
			break
		}
	}
	return ps
}
