package langcheck

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	goccy "github.com/goccy/go-yaml"
	goccyparser "github.com/goccy/go-yaml/parser"
	"go.yaml.in/yaml/v3"
)

// goccyMaxSize and goccyMaxDepth bound the input given to goccy/go-yaml,
// which is only asked where an error is (yaml.v3 decides whether the file
// parses) and slows down (quadratically) on deep nesting, flow or block.
const (
	goccyMaxSize  = 256 << 10
	goccyMaxDepth = 200
)

var (
	yamlLineRe   = regexp.MustCompile(`^yaml: line (\d+): `)
	yamlAnchorRe = regexp.MustCompile(`^yaml: unknown anchor '(.+)' referenced`)
)

// yaml12Directive matches "%YAML 1.2", which yaml.v3 (libyaml) refuses as
// an incompatible version although it parses that version's syntax; it is
// presented to yaml.v3 as "%YAML 1.1" (the same length, so positions stay).
var yaml12Directive = regexp.MustCompile(`(?m)^%YAML 1\.2\b`)

// checkYAML decodes every document of a YAML stream with go.yaml.in/yaml/v3
// (the YAML organisation's continuation of gopkg.in/yaml.v3, a port of
// libyaml) into yaml.Node trees, which checks the syntax without resolving
// tags or expanding aliases. Because yaml.v3 names the line of the
// enclosing construct rather than of the error, the position (and wording)
// of a syntax error comes from goccy/go-yaml's parser when it agrees that
// the file is broken. Duplicate keys in a mapping, which the YAML spec
// forbids, are reported too.
func checkYAML(content []byte) []Problem {
	dec := yaml.NewDecoder(bytes.NewReader(yaml12Directive.ReplaceAll(content, []byte("%YAML 1.1"))))
	var ps []Problem
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return []Problem{yamlError(content, err)}
		}
		yamlDuplicates(&doc, &ps)
	}
	return ps
}

// yamlError turns yaml.v3's error into a Problem, preferring goccy's
// position for it.
func yamlError(content []byte, err error) Problem {
	msg := err.Error()
	p := Problem{Message: msg}
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
	}
	if m := yamlAnchorRe.FindStringSubmatch(msg); m != nil {
		// Not a syntax error for goccy: find the alias itself.
		if i := bytes.Index(content, []byte("*"+m[1])); i >= 0 {
			p.Line, p.Column = newLines(content).pos(i)
		}
		return p
	}
	if len(content) > goccyMaxSize || deepNesting(content, goccyMaxDepth) >= 0 || yamlBlockDepth(content) > goccyMaxDepth {
		return p
	}
	_, gerr := goccyparser.ParseBytes(content, 0, goccyparser.AllowDuplicateMapKey())
	var se *goccy.SyntaxError
	if !errors.As(gerr, &se) || se.Token == nil || se.Token.Position == nil {
		return p
	}
	pos := se.Token.Position
	if pos.Line <= 0 {
		return p
	}
	msg = strings.ReplaceAll(se.Message, "'\t'", `'\t'`) // keep a quoted tab visible
	return Problem{Line: pos.Line, Column: pos.Column, Message: "yaml: " + msg}
}

// yamlBlockDepth bounds the block nesting of a YAML stream: for each line,
// its indentation plus its "- ", "? " and ": " indicators ("- - - x" nests
// three sequences on one line); the largest.
func yamlBlockDepth(b []byte) int {
	max := 0
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		d := len(line) - len(bytes.TrimLeft(line, " "))
		for _, ind := range [][]byte{[]byte("- "), []byte("? "), []byte(": ")} {
			d += bytes.Count(line, ind)
		}
		if d > max {
			max = d
		}
	}
	return max
}

// yamlDuplicates reports mapping keys that appear twice in one mapping
// (scalar keys with the same tag and value; the merge key << excepted).
// Aliases are not followed.
func yamlDuplicates(n *yaml.Node, ps *[]Problem) {
	stack := []*yaml.Node{n}
	for len(stack) > 0 && len(*ps) < maxProblems {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n.Kind == yaml.MappingNode {
			seen := map[string]*yaml.Node{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
					continue
				}
				id := k.Tag + "\x00" + k.Value
				if first, ok := seen[id]; ok {
					*ps = append(*ps, Problem{Line: k.Line, Column: k.Column,
						Message: fmt.Sprintf("yaml: mapping key %q already defined at line %d", shorten(k.Value, 60), first.Line)})
					continue
				}
				seen[id] = k
			}
		}
		if n.Kind == yaml.AliasNode {
			continue
		}
		for i := len(n.Content) - 1; i >= 0; i-- {
			stack = append(stack, n.Content[i])
		}
	}
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
