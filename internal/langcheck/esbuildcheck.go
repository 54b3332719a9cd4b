package langcheck

import (
	"fmt"
	"path"
	"strings"

	"github.com/evanw/esbuild/pkg/api"
)

// esbuildMaxDepth bounds the CSS bracket nesting given to esbuild, whose
// recursive descent grows slow with depth (JavaScript: see jsDepth).
const esbuildMaxDepth = 1000

// cssProblemIDs are the esbuild warning kinds that mean CSS does not parse
// as written: CSS parsers recover from anything, so esbuild reports these
// as warnings, but a browser drops the rule or declaration concerned.
var cssProblemIDs = map[string]bool{
	"css-syntax-error":  true, // unbalanced braces, a missing ':', an unterminated string...
	"js-comment-in-css": true, // "//" is no comment in CSS: the next rule is lost
}

// checkESBuild parses JavaScript, TypeScript (with JSX for .jsx/.tsx) and
// CSS with esbuild's Transform API, picking the loader by extension.
func checkESBuild(p string, content []byte) []Problem {
	ext := strings.ToLower(path.Ext(p))
	if ext == ".css" {
		if off := deepNesting(content, esbuildMaxDepth); off >= 0 {
			return tooDeep(content, off, esbuildMaxDepth)
		}
	} else if off := jsDepth(content, ext != ".ts" && ext != ".mts" && ext != ".cts", jsMaxDepth); off >= 0 {
		line, col := newLines(content).pos(off)
		return []Problem{{Line: line, Column: col, Message: fmt.Sprintf("expressions nest deeper than %d levels; the file is not checked further", jsMaxDepth)}}
	}
	switch ext {
	case ".jsx":
		return esbuildProblems(string(content), api.LoaderJSX, 1, 1)
	case ".ts", ".mts", ".cts":
		return esbuildProblems(string(content), api.LoaderTS, 1, 1)
	case ".tsx":
		return esbuildProblems(string(content), api.LoaderTSX, 1, 1)
	case ".css":
		return esbuildProblems(string(content), api.LoaderCSS, 1, 1)
	}
	return checkJS(string(content), 1, 1)
}

// checkJS parses plain JavaScript; many projects write JSX in .js files,
// so when JSX syntax is what fails, the file is parsed again as JSX.
func checkJS(src string, line, col int) []Problem {
	ps := esbuildProblems(src, api.LoaderJS, line, col)
	for _, p := range ps {
		if strings.Contains(p.Message, "JSX") {
			return esbuildProblems(src, api.LoaderJSX, line, col)
		}
	}
	return ps
}

// esbuildProblems runs esbuild on src, which starts at line and column
// (1-based) of the checked file, and returns its errors (and, for CSS, the
// warnings that mean a syntax error) placed in the file.
func esbuildProblems(src string, loader api.Loader, line, col int) []Problem {
	r := api.Transform(src, api.TransformOptions{
		Loader:   loader,
		LogLevel: api.LogLevelSilent,
		Target:   api.ESNext,
		// The output is not used; printing it minified avoids indentation
		// (quadratic for deep nesting) and esbuild's collision-avoiding
		// renamer (cubic for deeply nested scopes that shadow a name).
		MinifyWhitespace:  true,
		MinifyIdentifiers: true,
	})
	msgs := r.Errors
	if loader == api.LoaderCSS {
		for _, w := range r.Warnings {
			if cssProblemIDs[w.ID] {
				msgs = append(msgs, w)
			}
		}
	}
	place := func(l *api.Location) (int, int) {
		c := l.Column + 1
		if l.Line == 1 {
			c += col - 1
		}
		return line + l.Line - 1, c
	}
	var ps []Problem
	for _, m := range msgs {
		p := Problem{Message: m.Text}
		if m.Location != nil {
			p.Line, p.Column = place(m.Location)
		}
		// A note such as 'The unbalanced "{" is here:' tells where the
		// construct in question started.
		for _, n := range m.Notes {
			if n.Location == nil {
				continue
			}
			nl, nc := place(n.Location)
			what := strings.TrimSuffix(strings.TrimSuffix(n.Text, ":"), " is here")
			if what != n.Text && len(what) > 0 {
				p.Message += fmt.Sprintf(" (%s%s is at line %d, column %d)", strings.ToLower(what[:1]), what[1:], nl, nc)
			} else {
				p.Message += fmt.Sprintf(" (%s: line %d, column %d)", strings.TrimSuffix(n.Text, ":"), nl, nc)
			}
			break
		}
		ps = append(ps, p)
	}
	return ps
}
