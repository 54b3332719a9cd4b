package projectmap

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"path"
	"strings"
)

// Symbol is one definition in a file's outline.
type Symbol struct {
	Kind  string // func, method, type, class, var, const, macro, heading, ...
	Name  string
	Line  int    // 1-based
	Depth int    // 0 for top level, 1 for a member of a class, impl or module, ...
	Text  string // the definition's first line (its signature), trimmed
}

// maxSymbolText bounds a signature line in the outline.
const maxSymbolText = 160

// MaxSymbols bounds an outline: a generated file with thousands of
// definitions says "… N more" instead.
const MaxSymbols = 300

// Outline lists the top-level definitions of a source file, chosen by the
// path's extension; nil for files it does not know or that are not text.
func Outline(p string, src []byte) []Symbol {
	if !isText(src) {
		return nil
	}
	ext := strings.ToLower(path.Ext(p))
	if ext == ".go" {
		return goOutline(p, src)
	}
	spec := specFor(ext)
	if spec == nil {
		return nil
	}
	return spec.outline(src, ext)
}

// RenderOutline renders symbols one a line, indented two spaces per depth,
// ending in "… N more" when there are more than MaxSymbols.
func RenderOutline(syms []Symbol) string {
	var b strings.Builder
	for i, s := range syms {
		if i == MaxSymbols {
			b.WriteString("… ")
			b.WriteString(formatInt(int64(len(syms) - MaxSymbols)))
			b.WriteString(" more\n")
			break
		}
		b.WriteString(strings.Repeat("  ", s.Depth))
		b.WriteString(s.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

// isText reports whether b looks like text: no NUL byte in its first 8 KiB
// (the test git and grep use).
func isText(b []byte) bool {
	head := b
	if len(head) > 8192 {
		head = head[:8192]
	}
	return bytes.IndexByte(head, 0) < 0
}

// goOutline parses a Go file. A file with syntax errors still yields what
// the parser recovered.
func goOutline(p string, src []byte) []Symbol {
	fset := token.NewFileSet()
	f, _ := parser.ParseFile(fset, p, src, parser.SkipObjectResolution)
	if f == nil {
		return nil
	}
	text := func(from, to token.Pos) string {
		a, b := fset.Position(from).Offset, fset.Position(to).Offset
		if a < 0 || b > len(src) || a >= b {
			return ""
		}
		return clip(strings.Join(strings.Fields(string(src[a:b])), " "))
	}
	line := func(pos token.Pos) int { return fset.Position(pos).Line }
	var out []Symbol
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			end := d.End()
			if d.Body != nil {
				end = d.Body.Lbrace
			}
			kind := "func"
			if d.Recv != nil {
				kind = "method"
			}
			out = append(out, Symbol{Kind: kind, Name: d.Name.Name, Line: line(d.Pos()), Text: text(d.Pos(), end)})
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					out = append(out, Symbol{Kind: "type", Name: s.Name.Name, Line: line(s.Pos()),
						Text: "type " + goTypeHead(s, text)})
				case *ast.ValueSpec:
					kw := d.Tok.String()
					for _, n := range s.Names {
						if n.Name == "_" {
							continue
						}
						t := kw + " " + n.Name
						if s.Type != nil {
							t += " " + text(s.Type.Pos(), s.Type.End())
						}
						out = append(out, Symbol{Kind: kw, Name: n.Name, Line: line(n.Pos()), Text: clip(t)})
					}
				}
			}
		}
	}
	return out
}

// goTypeHead renders a type spec without its body: "Server struct",
// "Handler interface", "ID = string", "Celsius float64".
func goTypeHead(s *ast.TypeSpec, text func(from, to token.Pos) string) string {
	head := text(s.Name.Pos(), s.Type.Pos())
	if head == "" {
		head = s.Name.Name
	}
	switch s.Type.(type) {
	case *ast.StructType:
		return head + " struct"
	case *ast.InterfaceType:
		return head + " interface"
	}
	return clip(head + " " + text(s.Type.Pos(), s.Type.End()))
}

// clip bounds a signature line, on a character boundary.
func clip(s string) string {
	if len(s) <= maxSymbolText {
		return s
	}
	cut := maxSymbolText
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
