package langcheck

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/evanw/esbuild/pkg/api"
	"golang.org/x/net/html"
)

// HTML parsers accept anything (browsers repair every error), so "parses"
// is defined here as: the tokenizer reaches the end of the file inside no
// tag or comment; every element that must be closed is closed, in order;
// and inline <script> (JavaScript or JSON) and <style> blocks parse.
//
// Never reported (valid HTML5 or harmless): void elements (<br>, <img>...)
// with or without "/>", any self-closing tag, elements whose end tag is
// optional (html, head, body, p, li, dt, dd, option, optgroup, tr, td, th,
// thead, tbody, tfoot, colgroup, caption, rt, rp), end tags of void or
// optional elements with no matching start tag, attributes, nesting rules
// (a <div> inside a <p>), character references, doctype.

var htmlVoid = setOf("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
	"source", "track", "wbr", "param", "keygen", "basefont", "bgsound", "frame", "image", "isindex", "nextid", "spacer")

var htmlOptionalEnd = setOf("html", "head", "body", "p", "li", "dt", "dd", "rt", "rp", "rb", "rtc",
	"optgroup", "option", "colgroup", "caption", "thead", "tbody", "tfoot", "tr", "td", "th")

// templateMarkers tell a server-side or client-side template (Jinja,
// Django, Go templates, Handlebars, Vue, ERB, PHP), whose directives may
// open an element in one branch and close it in another: in such a file
// the element structure is not checked, nor are scripts and styles holding
// a marker.
var templateMarkers = [][]byte{[]byte("{%"), []byte("{{"), []byte("<%"), []byte("<?php"), []byte("<?=")}

// htmlMaxDepth bounds the open elements (each end tag looks through them).
const htmlMaxDepth = 1000

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func hasTemplateMarker(b []byte) bool {
	for _, m := range templateMarkers {
		if bytes.Contains(b, m) {
			return true
		}
	}
	return false
}

type htmlOpen struct {
	name      string
	line, col int
}

type htmlChecker struct {
	src       []byte
	ls        lines
	stack     []htmlOpen
	ps        []Problem
	template  bool
	truncated bool // the file ends inside a comment: what is open is its echo
}

func checkHTML(content []byte) []Problem {
	c := &htmlChecker{src: content, ls: newLines(content), template: hasTemplateMarker(content)}
	z := html.NewTokenizer(bytes.NewReader(content))
	off := 0
	var raw struct { // the <script> or <style> being read
		name, kind string
		body       []byte
		line, col  int
	}
	for len(c.ps) < maxProblems {
		tt := z.Next()
		tok := z.Raw()
		start := off
		off += len(tok)
		line, col := c.ls.pos(start)
		switch tt {
		case html.ErrorToken:
			if err := z.Err(); !errors.Is(err, io.EOF) {
				c.add(line, col, "html: "+err.Error())
				return c.ps
			}
			if len(tok) > 0 || off < len(content) { // the tokenizer hands back a partial tag
				c.add(line, col, "unterminated tag at the end of the file")
				return c.ps
			}
			if !c.truncated {
				c.unclosedAtEOF()
			}
			return c.ps
		case html.CommentToken:
			if bytes.HasPrefix(tok, []byte("<!--")) && len(tok) >= 4 &&
				!bytes.HasSuffix(tok, []byte("-->")) && !bytes.HasSuffix(tok, []byte("--!>")) {
				c.add(line, col, "comment <!-- is never closed with -->")
				c.truncated = true
			} else if !bytes.HasSuffix(tok, []byte(">")) {
				c.add(line, col, "unterminated markup at the end of the file")
				c.truncated = true
			}
		case html.DoctypeToken:
			if !bytes.HasSuffix(tok, []byte(">")) {
				c.add(line, col, "unterminated <!DOCTYPE at the end of the file")
				c.truncated = true
			}
		case html.SelfClosingTagToken:
			// <br/>, <path/>: closed; <div/> is not closed in HTML, but it
			// is what was meant.
		case html.StartTagToken:
			name, _ := z.TagName()
			n := string(name)
			if c.foreign() {
				z.NextIsNotRawText()
				if n == "svg" || n == "math" || !htmlVoid[n] {
					c.stack = append(c.stack, htmlOpen{n, line, col})
				}
				if len(c.stack) > htmlMaxDepth {
					c.add(line, col, fmt.Sprintf("elements nest deeper than %d levels; the file is not checked further", htmlMaxDepth))
					return c.ps
				}
				break
			}
			if n == "plaintext" {
				return c.ps // the rest of the file is text
			}
			z.AllowCDATA(n == "svg" || n == "math")
			if htmlVoid[n] {
				break
			}
			c.stack = append(c.stack, htmlOpen{n, line, col})
			if len(c.stack) > htmlMaxDepth {
				c.add(line, col, fmt.Sprintf("elements nest deeper than %d levels; the file is not checked further", htmlMaxDepth))
				return c.ps
			}
			if n == "script" || n == "style" {
				raw.name, raw.kind, raw.body = n, scriptKind(n, z), nil
				raw.line, raw.col = c.ls.pos(off)
			}
		case html.TextToken:
			if raw.name != "" && len(c.stack) > 0 && c.stack[len(c.stack)-1].name == raw.name {
				raw.body = append(raw.body, tok...)
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			n := string(name)
			if raw.name == n {
				c.checkRaw(raw.kind, raw.body, raw.line, raw.col)
				raw.name = ""
			}
			c.end(n, line, col)
			z.AllowCDATA(c.foreign())
		}
	}
	return c.ps
}

func (c *htmlChecker) add(line, col int, msg string) {
	if len(c.ps) < maxProblems {
		c.ps = append(c.ps, Problem{Line: line, Column: col, Message: msg})
	}
}

// foreign tells whether the tokenizer is inside <svg> or <math> content
// (and not back in HTML through <foreignObject>).
func (c *htmlChecker) foreign() bool {
	for i := len(c.stack) - 1; i >= 0; i-- {
		switch c.stack[i].name {
		case "svg", "math":
			return true
		case "foreignobject", "desc", "title", "annotation-xml":
			return false
		}
	}
	return false
}

// end handles an end tag: it closes the innermost open element of that
// name; elements left open above it must be ones whose end tag is optional.
func (c *htmlChecker) end(n string, line, col int) {
	i := len(c.stack) - 1
	for i >= 0 && c.stack[i].name != n {
		i--
	}
	if i < 0 {
		if !htmlVoid[n] && !htmlOptionalEnd[n] && !c.template {
			c.add(line, col, fmt.Sprintf("end tag </%s> has no matching start tag", n))
		}
		return
	}
	if !c.template {
		for _, o := range c.stack[i+1:] {
			if !htmlOptionalEnd[o.name] {
				c.add(line, col, fmt.Sprintf("element <%s> opened at line %d is not closed before </%s>", o.name, o.line, n))
			}
		}
	}
	c.stack = c.stack[:i]
}

func (c *htmlChecker) unclosedAtEOF() {
	for _, o := range c.stack {
		if htmlOptionalEnd[o.name] {
			continue
		}
		if c.template && o.name != "script" && o.name != "style" {
			continue
		}
		c.add(o.line, o.col, fmt.Sprintf("element <%s> is never closed", o.name))
	}
}

// scriptKind tells how to check a <script> or <style> body: "js", "jsx",
// "json", "css" or "" (not checked: templates, other languages).
func scriptKind(name string, z *html.Tokenizer) string {
	typ, lang := "", ""
	for {
		k, v, more := z.TagAttr()
		switch string(k) {
		case "type":
			typ = strings.ToLower(strings.TrimSpace(string(v)))
		case "lang":
			lang = strings.ToLower(strings.TrimSpace(string(v)))
		}
		if !more {
			break
		}
	}
	if i := strings.IndexByte(typ, ';'); i >= 0 {
		typ = strings.TrimSpace(typ[:i])
	}
	if name == "style" {
		if (typ == "" || typ == "text/css") && (lang == "" || lang == "css") {
			return "css"
		}
		return ""
	}
	switch typ {
	case "", "module", "text/javascript", "application/javascript", "text/ecmascript",
		"application/ecmascript", "text/jscript", "text/livescript", "application/x-javascript":
		return "js"
	case "text/babel", "text/jsx":
		return "jsx"
	case "importmap", "speculationrules", "application/json", "application/ld+json", "application/manifest+json":
		return "json"
	}
	return ""
}

// checkRaw checks the body of a <script> or <style> that starts at line
// and col of the file.
func (c *htmlChecker) checkRaw(kind string, body []byte, line, col int) {
	if kind == "" || len(bytes.TrimSpace(body)) == 0 || hasTemplateMarker(body) {
		return
	}
	var ps []Problem
	switch kind {
	case "js", "jsx", "css":
		if kind == "css" && deepNesting(body, esbuildMaxDepth) >= 0 || kind != "css" && jsDepth(body, true, jsMaxDepth) >= 0 {
			return
		}
		switch kind {
		case "js":
			ps = checkJS(string(body), line, col)
		case "jsx":
			ps = esbuildProblems(string(body), api.LoaderJSX, line, col)
		case "css":
			ps = esbuildProblems(string(body), api.LoaderCSS, line, col)
		}
	case "json":
		for _, p := range checkJSON(body, false) {
			if p.Line == 1 {
				p.Column += col - 1
			}
			if p.Line > 0 {
				p.Line += line - 1
			}
			ps = append(ps, p)
		}
	}
	for _, p := range ps {
		tag := "script"
		if kind == "css" {
			tag = "style"
		}
		p.Message = fmt.Sprintf("in <%s>: %s", tag, p.Message)
		c.ps = append(c.ps, p)
	}
}
