package deploycheck

import (
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Evaluate evaluates every resource instance with the variables' defaults,
// replaced by vars where given. Every diagnostic is an error: an expression
// that cannot be evaluated here would fail in Terraform too.
func (m *Module) Evaluate(vars map[string]cty.Value) ([]*Instance, error) {
	varVals := map[string]cty.Value{}
	for name := range vars {
		if _, ok := m.variables[name]; !ok {
			return nil, fmt.Errorf("no variable %q in the module", name)
		}
	}
	for name, v := range m.variables {
		val, given := vars[name]
		if !given {
			if v.def == nil {
				val = cty.UnknownVal(v.typ)
			} else {
				d, diags := v.def.Value(&hcl.EvalContext{Functions: tfFunctions()})
				if diags.HasErrors() {
					return nil, diags
				}
				val = d
			}
		}
		conv, err := convert.Convert(val, v.typ)
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", name, err)
		}
		if err := v.validate(conv); err != nil {
			return nil, err
		}
		varVals[name] = conv
	}

	project := ""
	if p, ok := varVals["project_id"]; ok && p.IsKnown() && !p.IsNull() && p.Type() == cty.String {
		project = p.AsString()
	}
	e := &evaluator{m: m, project: project, vars: cty.ObjectVal(varVals),
		locals: map[string]cty.Value{}, objects: map[string]map[string]cty.Value{}}
	for n := range m.locals {
		e.locals[n] = cty.DynamicVal
	}
	order, err := m.order()
	if err != nil {
		return nil, err
	}
	var (
		instances []*Instance
		diags     hcl.Diagnostics
	)
	for _, n := range order {
		if n.local != nil {
			v, d := n.local.Expr.Value(e.context())
			diags = append(diags, d...)
			e.locals[n.local.Name] = v
			continue
		}
		ins, d := e.resource(n.resource)
		diags = append(diags, d...)
		instances = append(instances, ins...)
	}
	// Outputs are evaluated only to find errors in them.
	ctx := e.context()
	for _, a := range m.outputs {
		_, d := a.Expr.Value(ctx)
		diags = append(diags, d...)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return instances, nil
}

// validate evaluates the variable's validation blocks as Terraform does
// before a plan: each condition sees only var.<this variable>; an unknown
// value (no default, none given) is not judged.
func (v *variable) validate(val cty.Value) error {
	if !val.IsWhollyKnown() {
		return nil
	}
	ctx := &hcl.EvalContext{Functions: tfFunctions(), Variables: map[string]cty.Value{
		"var": cty.ObjectVal(map[string]cty.Value{v.name: val})}}
	for _, c := range v.validations {
		ok, diags := c.condition.Value(ctx)
		if diags.HasErrors() {
			return fmt.Errorf("variable %s: validation: %w", v.name, diags)
		}
		ok, err := convert.Convert(ok, cty.Bool)
		if err != nil || ok.IsNull() {
			return fmt.Errorf("variable %s: a validation condition is not a bool", v.name)
		}
		if ok.False() {
			msg, _ := c.message.Value(ctx)
			text := "(no message)"
			if msg.IsKnown() && !msg.IsNull() && msg.Type() == cty.String {
				text = msg.AsString()
			}
			return fmt.Errorf("variable %s = %s is invalid: %s", v.name, valueText(val), text)
		}
	}
	return nil
}

func valueText(v cty.Value) string {
	if v.Type() == cty.String {
		return fmt.Sprintf("%q", v.AsString())
	}
	if s, err := convert.Convert(v, cty.String); err == nil {
		return s.AsString()
	}
	return v.GoString()
}

type evaluator struct {
	m       *Module
	project string
	vars    cty.Value
	locals  map[string]cty.Value
	// objects holds each resource's value as other expressions see it:
	// "type" or "data.type" => name => value.
	objects map[string]map[string]cty.Value
}

func (e *evaluator) context() *hcl.EvalContext {
	vars := map[string]cty.Value{
		"var":       e.vars,
		"local":     cty.ObjectVal(e.locals),
		"path":      cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal("."), "root": cty.StringVal("."), "cwd": cty.StringVal(".")}),
		"terraform": cty.ObjectVal(map[string]cty.Value{"workspace": cty.StringVal("default")}),
	}
	data := map[string]cty.Value{}
	// Resources not evaluated yet are unknown objects with every attribute
	// a resource may have.
	for _, r := range e.m.resources {
		key := r.typ
		if r.mode == "data" {
			key = "data." + r.typ
		}
		val, ok := e.objects[key][r.name]
		if !ok {
			val = cty.DynamicVal
		}
		if r.mode == "data" {
			data[r.typ] = mergeAttr(data[r.typ], r.name, val)
		} else {
			vars[r.typ] = mergeAttr(vars[r.typ], r.name, val)
		}
	}
	if len(data) > 0 {
		vars["data"] = cty.ObjectVal(data)
	}
	return &hcl.EvalContext{Variables: vars, Functions: tfFunctions()}
}

func mergeAttr(obj cty.Value, name string, v cty.Value) cty.Value {
	attrs := map[string]cty.Value{}
	if obj != cty.NilVal {
		attrs = obj.AsValueMap()
	}
	attrs[name] = v
	return cty.ObjectVal(attrs)
}

// resource evaluates r's instances and records its value for the next pass.
func (e *evaluator) resource(r *resource) ([]*Instance, hcl.Diagnostics) {
	ctx := e.context()
	var diags hcl.Diagnostics
	type inst struct {
		key  cty.Value
		vars map[string]cty.Value
	}
	var insts []inst
	forEach, hasForEach := r.body.Attributes["for_each"]
	count, hasCount := r.body.Attributes["count"]
	switch {
	case hasForEach:
		v, d := forEach.Expr.Value(ctx)
		diags = append(diags, d...)
		// Terraform needs the keys, not the values, to be known.
		if d.HasErrors() || !v.IsKnown() || (v.Type().IsSetType() && !v.IsWhollyKnown()) {
			e.record(r, cty.DynamicVal)
			return nil, diags
		}
		if v.IsNull() || !v.CanIterateElements() || v.Type().IsListType() || v.Type().IsTupleType() ||
			(v.Type().IsSetType() && !v.Type().ElementType().Equals(cty.String)) {
			return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "for_each needs a map, an object or a set of strings",
				Subject: forEach.Expr.Range().Ptr()})
		}
		for it := v.ElementIterator(); it.Next(); {
			k, val := it.Element()
			if v.Type().IsSetType() {
				k = val
			}
			insts = append(insts, inst{key: k, vars: map[string]cty.Value{
				"each": cty.ObjectVal(map[string]cty.Value{"key": k, "value": val})}})
		}
	case hasCount:
		v, d := count.Expr.Value(ctx)
		diags = append(diags, d...)
		if d.HasErrors() || !v.IsKnown() {
			e.record(r, cty.DynamicVal)
			return nil, diags
		}
		n, err := countValue(v)
		if err != nil {
			return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid count: " + err.Error(),
				Subject: count.Expr.Range().Ptr()})
		}
		for i := range n {
			idx := cty.NumberIntVal(i)
			insts = append(insts, inst{key: idx, vars: map[string]cty.Value{
				"count": cty.ObjectVal(map[string]cty.Value{"index": idx})}})
		}
	default:
		insts = []inst{{key: cty.NilVal}}
	}

	var out []*Instance
	values := map[string]cty.Value{}
	var list []cty.Value
	for _, in := range insts {
		c := ctx.NewChild()
		c.Variables = in.vars
		node, d := evalBody(c, r.body, true)
		diags = append(diags, d...)
		i := &Instance{Mode: r.mode, Type: r.typ, Name: r.name, Key: in.key, Node: node}
		out = append(out, i)
		obj := e.object(i)
		switch {
		case hasForEach:
			values[in.key.AsString()] = obj
		case hasCount:
			list = append(list, obj)
		default:
			e.record(r, obj)
		}
	}
	if hasForEach {
		e.record(r, cty.ObjectVal(values))
	}
	if hasCount {
		e.record(r, cty.TupleVal(list))
	}
	return out, diags
}

func (e *evaluator) record(r *resource, v cty.Value) {
	key := r.typ
	if r.mode == "data" {
		key = "data." + r.typ
	}
	if e.objects[key] == nil {
		e.objects[key] = map[string]cty.Value{}
	}
	e.objects[key][r.name] = v
}

// metaArgs are evaluated by Terraform itself or not values at all.
var metaArgs = map[string]bool{"for_each": true, "count": true, "depends_on": true, "provider": true}
var metaBlocks = map[string]bool{"lifecycle": true, "provisioner": true, "connection": true}

// evalBody evaluates a body's attributes and nested blocks, expanding
// dynamic blocks.
func evalBody(ctx *hcl.EvalContext, body *hclsyntax.Body, top bool) (*Node, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	n := &Node{Attrs: map[string]cty.Value{}}
	for name, a := range body.Attributes {
		if top && metaArgs[name] {
			continue
		}
		v, d := a.Expr.Value(ctx)
		diags = append(diags, d...)
		n.Attrs[name] = v
	}
	blocks := append([]*hclsyntax.Block(nil), body.Blocks...)
	sort.SliceStable(blocks, func(i, j int) bool { return blocks[i].Range().Start.Byte < blocks[j].Range().Start.Byte })
	for _, b := range blocks {
		if top && metaBlocks[b.Type] {
			continue
		}
		if b.Type != "dynamic" {
			child, d := evalBody(ctx, b.Body, false)
			diags = append(diags, d...)
			n.Blocks = append(n.Blocks, &Block{Type: b.Type, Labels: b.Labels, Node: child})
			continue
		}
		expanded, d := evalDynamic(ctx, b)
		diags = append(diags, d...)
		n.Blocks = append(n.Blocks, expanded...)
	}
	return n, diags
}

func evalDynamic(ctx *hcl.EvalContext, b *hclsyntax.Block) ([]*Block, hcl.Diagnostics) {
	if len(b.Labels) != 1 {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "a dynamic block has one label", Subject: b.Range().Ptr()}}
	}
	typ := b.Labels[0]
	iterator := typ
	if a, ok := b.Body.Attributes["iterator"]; ok {
		iterator = hcl.ExprAsKeyword(a.Expr)
	}
	fe, ok := b.Body.Attributes["for_each"]
	contents := b.Body.Blocks
	if !ok || len(contents) != 1 || contents[0].Type != "content" {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "dynamic " + typ + " needs for_each and one content block", Subject: b.Range().Ptr()}}
	}
	v, diags := fe.Expr.Value(ctx)
	if diags.HasErrors() {
		return nil, diags
	}
	if !v.IsWhollyKnown() {
		return nil, nil
	}
	if v.IsNull() || !v.CanIterateElements() {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "dynamic " + typ + ": for_each is not a collection", Subject: fe.Expr.Range().Ptr()}}
	}
	var out []*Block
	for it := v.ElementIterator(); it.Next(); {
		k, val := it.Element()
		c := ctx.NewChild()
		c.Variables = map[string]cty.Value{iterator: cty.ObjectVal(map[string]cty.Value{"key": k, "value": val})}
		node, d := evalBody(c, contents[0].Body, false)
		diags = append(diags, d...)
		out = append(out, &Block{Type: typ, Node: node})
	}
	return out, diags
}

// object is the value other expressions see for an instance: its
// arguments, its blocks as lists, and the computed attributes the google
// provider would add.
func (e *evaluator) object(i *Instance) cty.Value {
	v := nodeValue(i.Node)
	attrs := v.AsValueMap()
	if attrs == nil {
		attrs = map[string]cty.Value{}
	}
	for k, val := range computed(e.project, i) {
		// A block the provider fills in (Eventarc's transport) replaces
		// the configured one; otherwise the configuration wins.
		if _, set := attrs[k]; !set || k == "transport" {
			attrs[k] = val
		}
	}
	return cty.ObjectVal(attrs)
}

func nodeValue(n *Node) cty.Value {
	attrs := map[string]cty.Value{}
	for k, v := range n.Attrs {
		attrs[k] = v
	}
	byType := map[string][]cty.Value{}
	for _, b := range n.Blocks {
		byType[b.Type] = append(byType[b.Type], nodeValue(b.Node))
	}
	for t, vs := range byType {
		attrs[t] = cty.TupleVal(vs)
	}
	return cty.ObjectVal(attrs)
}

// maxCount bounds count: no resource here has more instances, and a bound
// keeps a mistaken expression from running away.
const maxCount = 1000

func countValue(v cty.Value) (int64, error) {
	if v.IsNull() {
		return 0, fmt.Errorf("null")
	}
	n, err := convert.Convert(v, cty.Number)
	if err != nil {
		return 0, err
	}
	i, acc := n.AsBigFloat().Int64()
	if acc != big.Exact || i < 0 || i > maxCount {
		return 0, fmt.Errorf("must be a whole number from 0 to %d", maxCount)
	}
	return i, nil
}

// graphNode is a local value or a resource, in the order Terraform would
// evaluate them.
type graphNode struct {
	key      string // "local.NAME", "TYPE.NAME" or "data.TYPE.NAME"
	local    *hclsyntax.Attribute
	resource *resource
}

// order sorts the locals and resources so that each comes after what it
// refers to, and refuses a cycle, as Terraform does.
func (m *Module) order() ([]graphNode, error) {
	nodes := map[string]graphNode{}
	var keys []string
	for name, a := range m.locals {
		nodes["local."+name] = graphNode{key: "local." + name, local: a}
		keys = append(keys, "local."+name)
	}
	types := map[string]bool{}
	for _, r := range m.resources {
		k := r.typ + "." + r.name
		if r.mode == "data" {
			k = "data." + k
		} else {
			types[r.typ] = true
		}
		if _, dup := nodes[k]; dup {
			return nil, fmt.Errorf("%s is declared twice", k)
		}
		nodes[k] = graphNode{key: k, resource: r}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	deps := func(n graphNode) []string {
		var exprs []hcl.Expression
		if n.local != nil {
			exprs = []hcl.Expression{n.local.Expr}
		} else {
			exprs = bodyExprs(n.resource.body)
		}
		var out []string
		for _, e := range exprs {
			for _, tr := range e.Variables() {
				if k := refKey(tr, types); k != "" {
					if _, ok := nodes[k]; ok && !slices.Contains(out, k) {
						out = append(out, k)
					}
				}
			}
		}
		sort.Strings(out)
		return out
	}
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var order []graphNode
	var visit func(k string, path []string) error
	visit = func(k string, path []string) error {
		switch state[k] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("cycle: %s", strings.Join(append(path, k), " -> "))
		}
		state[k] = visiting
		for _, d := range deps(nodes[k]) {
			if err := visit(d, append(path, k)); err != nil {
				return err
			}
		}
		state[k] = done
		order = append(order, nodes[k])
		return nil
	}
	for _, k := range keys {
		if err := visit(k, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// refKey names the local or resource a traversal refers to, or "".
func refKey(tr hcl.Traversal, types map[string]bool) string {
	root := tr.RootName()
	attr := func(i int) string {
		if i < len(tr) {
			if a, ok := tr[i].(hcl.TraverseAttr); ok {
				return a.Name
			}
		}
		return ""
	}
	switch {
	case root == "local":
		if a := attr(1); a != "" {
			return "local." + a
		}
	case root == "data":
		if t, n := attr(1), attr(2); t != "" && n != "" {
			return "data." + t + "." + n
		}
	case types[root]:
		if n := attr(1); n != "" {
			return root + "." + n
		}
	}
	return ""
}

// bodyExprs lists every expression in a body, nested blocks included,
// except lifecycle's (which names the resource's own attributes).
func bodyExprs(b *hclsyntax.Body) []hcl.Expression {
	var out []hcl.Expression
	for _, a := range b.Attributes {
		out = append(out, a.Expr)
	}
	for _, blk := range b.Blocks {
		if blk.Type != "lifecycle" {
			out = append(out, bodyExprs(blk.Body)...)
		}
	}
	return out
}
