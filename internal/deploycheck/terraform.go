// Package deploycheck holds the deployment and the code together: it reads
// the Terraform in infra/terraform, evaluates it the way Terraform would
// (the same HCL and cty libraries, with the resources' computed attributes
// stood in for), and checks it against the code's function targets,
// configuration variables and topic names.
//
// The google provider cannot be downloaded where the tests run, so
// `terraform validate` is unavailable; evaluating every expression here also
// catches a misspelt local, variable or attribute, and an expression that
// Terraform would reject for inconsistent types.
package deploycheck

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// Module is a parsed Terraform root module.
type Module struct {
	variables map[string]*variable
	locals    map[string]*hclsyntax.Attribute
	outputs   map[string]*hclsyntax.Attribute
	resources []*resource
}

type variable struct {
	typ  cty.Type
	def  hcl.Expression // nil: no default
	name string
}

type resource struct {
	mode string // "resource" or "data"
	typ  string
	name string
	body *hclsyntax.Body
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

// passes bounds the rounds of evaluation: each round resolves one more
// level of references between resources and locals.
const passes = 8

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
	var (
		instances []*Instance
		diags     hcl.Diagnostics
	)
	for range passes {
		diags = nil
		ctx := e.context()
		for n, a := range m.locals {
			v, d := a.Expr.Value(ctx)
			diags = append(diags, d...)
			e.locals[n] = v
		}
		instances = nil
		for _, r := range m.resources {
			ins, d := e.resource(r)
			diags = append(diags, d...)
			instances = append(instances, ins...)
		}
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
		if !v.CanIterateElements() || v.Type().IsListType() || v.Type().IsTupleType() {
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
		n, _ := v.AsBigFloat().Int64()
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

// computed lists the attributes the provider computes that the module
// reads: known where the provider's format is fixed, unknown otherwise.
func computed(project string, i *Instance) map[string]cty.Value {
	unknown := cty.UnknownVal(cty.String)
	s := func(format string, args ...any) cty.Value {
		for _, a := range args {
			if a == "" {
				return unknown
			}
		}
		return cty.StringVal(fmt.Sprintf(format, args...))
	}
	name := i.Text("name")
	out := map[string]cty.Value{"id": unknown}
	switch i.Type {
	case "google_project":
		out["number"] = unknown
		out["name"] = unknown
	case "google_pubsub_topic":
		out["id"] = s("projects/%s/topics/%s", project, name)
	case "google_pubsub_subscription":
		out["id"] = s("projects/%s/subscriptions/%s", project, name)
	case "google_cloud_run_v2_service":
		// The real URL carries a hash; a stand-in of the same shape lets
		// the checks follow which service a subscription pushes to.
		out["uri"] = s("https://%s.run.app", name)
		out["id"] = s("projects/%s/locations/%s/services/%s", project, i.Text("location"), name)
	case "google_cloud_run_v2_job":
		out["id"] = s("projects/%s/locations/%s/jobs/%s", project, i.Text("location"), name)
	case "google_service_account":
		email := s("%s@%s.iam.gserviceaccount.com", i.Text("account_id"), project)
		out["email"] = email
		if email.IsKnown() {
			out["member"] = cty.StringVal("serviceAccount:" + email.AsString())
			out["name"] = s("projects/%s/serviceAccounts/%s", project, email.AsString())
		} else {
			out["member"], out["name"] = unknown, unknown
		}
		out["id"] = out["name"]
		out["unique_id"] = unknown
	case "google_secret_manager_secret":
		out["name"] = unknown // projects/NUMBER/secrets/ID
		out["id"] = s("projects/%s/secrets/%s", project, i.Text("secret_id"))
	case "google_artifact_registry_repository":
		out["name"] = s("%s", i.Text("repository_id"))
	case "google_eventarc_trigger":
		// transport[0].pubsub[0].subscription is made by Eventarc.
		transport := i.Block("transport", "pubsub")
		topic := cty.Value(unknown)
		if transport != nil {
			topic = transport.Attrs["topic"]
		}
		out["transport"] = cty.TupleVal([]cty.Value{cty.ObjectVal(map[string]cty.Value{
			"pubsub": cty.TupleVal([]cty.Value{cty.ObjectVal(map[string]cty.Value{
				"topic": topic, "subscription": unknown})})})})
	case "terraform_data":
		if in, ok := i.Attrs["input"]; ok {
			out["output"] = in
		}
	}
	return out
}

func tfFunctions() map[string]function.Function {
	to := func(t cty.Type) function.Function {
		return function.New(&function.Spec{
			Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType, AllowNull: true, AllowUnknown: true, AllowDynamicType: true}},
			Type: func(args []cty.Value) (cty.Type, error) {
				if t.HasDynamicTypes() {
					v, err := convert.Convert(args[0], t)
					if err != nil {
						return cty.NilType, err
					}
					return v.Type(), nil
				}
				return t, nil
			},
			Impl: func(args []cty.Value, ret cty.Type) (cty.Value, error) {
				return convert.Convert(args[0], ret)
			},
		})
	}
	return map[string]function.Function{
		"abs": stdlib.AbsoluteFunc, "ceil": stdlib.CeilFunc, "floor": stdlib.FloorFunc,
		"min": stdlib.MinFunc, "max": stdlib.MaxFunc,
		"concat": stdlib.ConcatFunc, "contains": stdlib.ContainsFunc, "distinct": stdlib.DistinctFunc,
		"flatten": stdlib.FlattenFunc, "keys": stdlib.KeysFunc, "values": stdlib.ValuesFunc,
		"length": stdlib.LengthFunc, "lookup": stdlib.LookupFunc, "merge": stdlib.MergeFunc,
		"element": stdlib.ElementFunc, "coalesce": stdlib.CoalesceFunc,
		"format": stdlib.FormatFunc, "join": stdlib.JoinFunc, "split": stdlib.SplitFunc,
		"lower": stdlib.LowerFunc, "upper": stdlib.UpperFunc, "replace": stdlib.ReplaceFunc,
		"regex": stdlib.RegexFunc, "jsonencode": stdlib.JSONEncodeFunc,
		"tostring": to(cty.String), "tonumber": to(cty.Number), "tobool": to(cty.Bool),
		"toset": to(cty.Set(cty.DynamicPseudoType)), "tolist": to(cty.List(cty.DynamicPseudoType)),
		"tomap": to(cty.Map(cty.DynamicPseudoType)),
		"can":   tryfunc.CanFunc, "try": tryfunc.TryFunc,
	}
}

// Problems is a list of inconsistencies, one sentence each.
type Problems []string

func (p Problems) Error() string { return strings.Join(p, "\n") }

// Err returns p as an error, or nil when it is empty.
func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	return p
}
