package deploycheck

import (
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// FuzzEvaluate: no Terraform text, however malformed, makes the parser,
// the evaluator or the checks panic or hang.
func FuzzEvaluate(f *testing.F) {
	files, err := realFiles()
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range sortedKeys(files) {
		f.Add(string(files[name]))
	}
	f.Add(`resource "a" "b" { count = 3 }`)
	f.Add(`resource "a" "b" { for_each = toset(["x", "y"]) name = each.key }`)
	f.Add(`resource "a" { }`)
	f.Add(`locals { a = local.b
b = local.a }`)
	f.Add(`resource "a" "b" { dynamic { for_each = [1] content {} } }`)
	code := FromCode()
	f.Fuzz(func(t *testing.T, src string) {
		m, err := Parse(map[string][]byte{"main.tf": []byte(src)})
		if err != nil {
			return
		}
		vars := map[string]cty.Value{}
		if _, ok := m.variables["project_id"]; ok {
			vars["project_id"] = cty.StringVal("fuzz")
		}
		ins, err := m.Evaluate(vars)
		if err != nil {
			return
		}
		inf := Extract(ins)
		_ = Check(inf, code)
		_ = CheckCloudBuild(src, inf)
	})
}

func BenchmarkEvaluate(b *testing.B) {
	files, err := realFiles()
	if err != nil {
		b.Fatal(err)
	}
	code := FromCode()
	vars := testVars("push")
	b.ReportAllocs()
	for b.Loop() {
		m, err := Parse(files)
		if err != nil {
			b.Fatal(err)
		}
		ins, err := m.Evaluate(vars)
		if err != nil {
			b.Fatal(err)
		}
		if p := Check(Extract(ins), code); len(p) != 0 {
			b.Fatal(p)
		}
	}
}
