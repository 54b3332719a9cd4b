// Package deploycheck holds the deployment and the code together: it reads
// the Terraform in infra/terraform, evaluates it the way Terraform would
// (the same HCL and cty libraries, with the resources' computed attributes
// stood in for), and checks it against the code's function targets,
// configuration variables and topic names.
//
// The google provider cannot be downloaded where the tests run, so
// `terraform validate` is unavailable; evaluating every expression here also
// catches a misspelt local, variable or attribute, and an expression that
// Terraform would reject for inconsistent types. CheckSchema (schema.go)
// stands in for the provider's schema: every argument and block must be in
// a list checked against the provider's documentation.
package deploycheck

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Module is a parsed Terraform root module.
type Module struct {
	variables map[string]*variable
	locals    map[string]*hclsyntax.Attribute
	outputs   map[string]*hclsyntax.Attribute
	resources []*resource
}

type variable struct {
	typ         cty.Type
	def         hcl.Expression // nil: no default
	name        string
	validations []validation
}

// validation is one validation block of a variable.
type validation struct {
	condition, message hcl.Expression
}

type resource struct {
	mode string // "resource" or "data"
	typ  string
	name string
	body *hclsyntax.Body
}

// IgnoreChanges lists, per resource ("TYPE.NAME"), the attribute paths its
// lifecycle's ignore_changes names, written as in the configuration
// ("template[0].containers[0].image"); "all" for ignore_changes = all.
func (m *Module) IgnoreChanges() map[string][]string {
	out := map[string][]string{}
	for _, r := range m.resources {
		for _, b := range r.body.Blocks {
			if b.Type != "lifecycle" {
				continue
			}
			a, ok := b.Body.Attributes["ignore_changes"]
			if !ok {
				continue
			}
			key := r.typ + "." + r.name
			if kw := hcl.ExprAsKeyword(a.Expr); kw != "" {
				out[key] = append(out[key], kw)
				continue
			}
			exprs, diags := hcl.ExprList(a.Expr)
			if diags.HasErrors() {
				continue
			}
			for _, e := range exprs {
				if tr, d := hcl.RelTraversalForExpr(e); !d.HasErrors() {
					out[key] = append(out[key], traversalText(tr))
				}
			}
		}
	}
	return out
}

// Validated lists the variables that have at least one validation block.
func (m *Module) Validated() []string {
	var out []string
	for name, v := range m.variables {
		if len(v.validations) > 0 {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func traversalText(tr hcl.Traversal) string {
	var b strings.Builder
	for i, step := range tr {
		switch s := step.(type) {
		case hcl.TraverseRoot:
			b.WriteString(s.Name)
		case hcl.TraverseAttr:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.Name)
		case hcl.TraverseIndex:
			if s.Key.Type() == cty.Number {
				b.WriteString("[" + s.Key.AsBigFloat().String() + "]")
			} else if s.Key.Type() == cty.String {
				b.WriteString(fmt.Sprintf("[%q]", s.Key.AsString()))
			}
		}
	}
	return b.String()
}

// Instance is one evaluated resource instance.
type Instance struct {
	Mode, Type, Name string
	// Key is each.key (a string) or count.index (a number); NilVal for a
	// resource with neither.
	Key cty.Value
	*Node
}

// Address is the instance's address as Terraform prints it.
func (i *Instance) Address() string {
	a := i.Type + "." + i.Name
	if i.Mode == "data" {
		a = "data." + a
	}
	switch {
	case i.Key == cty.NilVal:
	case i.Key.Type() == cty.String:
		a += fmt.Sprintf("[%q]", i.Key.AsString())
	default:
		a += "[" + i.Key.AsBigFloat().String() + "]"
	}
	return a
}

// Node is an evaluated body: its attributes and its nested blocks
// (dynamic blocks expanded).
type Node struct {
	Attrs  map[string]cty.Value
	Blocks []*Block
}

// Block is a nested block.
type Block struct {
	Type   string
	Labels []string
	*Node
}

// BlocksOf returns n's nested blocks of the given type.
func (n *Node) BlocksOf(typ string) []*Block {
	var out []*Block
	for _, b := range n.Blocks {
		if b.Type == typ {
			out = append(out, b)
		}
	}
	return out
}

// Block returns the first nested block at the path of block types, or nil.
func (n *Node) Block(path ...string) *Node {
	cur := n
	for _, p := range path {
		bs := cur.BlocksOf(p)
		if len(bs) == 0 {
			return nil
		}
		cur = bs[0].Node
	}
	return cur
}

// Text returns the attribute's value if it is a known string, else "".
func (n *Node) Text(name string) string {
	if n == nil {
		return ""
	}
	v, ok := n.Attrs[name]
	if !ok || !v.IsWhollyKnown() || v.IsNull() {
		return ""
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		return ""
	}
	return s.AsString()
}

// labels is how many labels each top-level block has.
var labels = map[string]int{"variable": 1, "output": 1, "resource": 2, "data": 2, "locals": 0}

// Load parses every .tf file in dir.
func Load(dir string) (*Module, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no .tf files in %s", dir)
	}
	files := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		files[filepath.Base(p)] = b
	}
	return Parse(files)
}

// Parse parses Terraform files given as name => content.
func Parse(files map[string][]byte) (*Module, error) {
	m := &Module{variables: map[string]*variable{}, locals: map[string]*hclsyntax.Attribute{}, outputs: map[string]*hclsyntax.Attribute{}}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var diags hcl.Diagnostics
	for _, name := range names {
		f, d := hclsyntax.ParseConfig(files[name], name, hcl.InitialPos)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		for _, b := range f.Body.(*hclsyntax.Body).Blocks {
			if want, ok := labels[b.Type]; ok && len(b.Labels) != want {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError,
					Summary: fmt.Sprintf("a %s block has %d label(s)", b.Type, want), Subject: b.DefRange().Ptr()})
				continue
			}
			switch b.Type {
			case "variable":
				v := &variable{typ: cty.DynamicPseudoType, name: b.Labels[0]}
				if a, ok := b.Body.Attributes["type"]; ok {
					t, d := typeexpr.TypeConstraint(a.Expr)
					diags = append(diags, d...)
					v.typ = t
				}
				if a, ok := b.Body.Attributes["default"]; ok {
					v.def = a.Expr
				}
				for _, vb := range b.Body.Blocks {
					if vb.Type != "validation" {
						continue
					}
					cond, okC := vb.Body.Attributes["condition"]
					msg, okM := vb.Body.Attributes["error_message"]
					if !okC || !okM {
						diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError,
							Summary: "a validation block needs condition and error_message", Subject: vb.DefRange().Ptr()})
						continue
					}
					v.validations = append(v.validations, validation{condition: cond.Expr, message: msg.Expr})
				}
				m.variables[v.name] = v
			case "locals":
				for n, a := range b.Body.Attributes {
					if _, dup := m.locals[n]; dup {
						diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError,
							Summary: "Duplicate local value " + n, Subject: a.SrcRange.Ptr()})
					}
					m.locals[n] = a
				}
			case "output":
				if a, ok := b.Body.Attributes["value"]; ok {
					m.outputs[b.Labels[0]] = a
				}
			case "resource", "data":
				m.resources = append(m.resources, &resource{mode: b.Type, typ: b.Labels[0], name: b.Labels[1], body: b.Body})
			}
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return m, nil
}
