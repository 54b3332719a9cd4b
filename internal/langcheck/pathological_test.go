package langcheck

import (
	"strings"
	"testing"
	"time"
)

// pathological returns adversarial inputs of about size bytes.
func pathological(size int) map[string]string {
	rep := func(s string) string { return strings.Repeat(s, size/len(s)) }
	var indent strings.Builder
	for i := 0; indent.Len() < size/4; i++ {
		indent.WriteString(strings.Repeat(" ", i%700) + "k:\n")
	}
	m := map[string]string{}
	for _, ext := range []string{"go", "py", "js", "jsx", "ts", "tsx", "json", "jsonc", "yaml", "toml", "html", "css", "md"} {
		for name, src := range map[string]string{
			"open(":   rep("("),
			"open[":   rep("["),
			"open{":   rep("{"),
			"closed":  rep("[") + rep("]"),
			"close":   rep(")]}"),
			"letters": rep("a"),
			"lines":   rep("\n"),
			"quotes":  rep(`"'` + "`"),
			"tags":    rep("<div>") + rep("</span>"),
			"fences":  rep("```\n"),
			"fstring": rep(`f"{`),
			"nested":  rep("a: [{b: "),
			"indent":  indent.String(),
			"mixed":   rep("x = f(a[1], {'k': (2, 3)})\n\t  # c\n"),
			"unary":   "x = " + rep("!") + "a",
			"member":  "x = a" + rep(".b"),
			"call":    "x = a" + rep("()"),
			"arrow":   "x = " + rep("a=>") + "c",
			"assign":  rep("a=") + "c",
			"ternary": "x = " + rep("a?b:") + "c",
			"newnew":  rep("new\n") + "X",
			"assert":  rep("<T>") + "x",
			"tagged":  rep("``"),
			"jsx":     rep("<div>\n") + rep("</span>\n"),
			"inside":  "package p\nfunc f() { x := " + rep("!") + "a }\n",
			"seq":     "a:\n" + rep("- ") + "x\n",
		} {
			m[name+"."+ext] = src
		}
	}
	return m
}

// Check takes bounded time on adversarial input and never panics.
func TestPathological(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	size := 512 << 10
	limit := 5 * time.Second
	if raceEnabled { // slower by ~10x: smaller input, same shapes
		size, limit = 128<<10, 20*time.Second
	}
	var worst time.Duration
	var worstName string
	for name, src := range pathological(size) {
		start := time.Now()
		ps := Check(name, []byte(src))
		d := time.Since(start)
		if d > worst {
			worst, worstName = d, name
		}
		if d > limit {
			t.Errorf("%s: %v (over %v)", name, d, limit)
		}
		for _, p := range ps {
			if strings.HasPrefix(p.Message, "internal error") {
				t.Errorf("%s: %v", name, p)
			}
		}
		if len(ps) > maxProblems {
			t.Errorf("%s: %d problems", name, len(ps))
		}
	}
	t.Logf("slowest: %s in %v", worstName, worst)
}

func TestJSDepth(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		jsx  bool
		deep bool
	}{
		{"code", "const a = b.c.d(e => f?.g ?? h, [1, 2], {k: !v});\nlet x = typeof y === 'z' ? 1 : 2;\n", true, false},
		{"statements without semicolons", strings.Repeat("x = a.b.c\ny = -d\nfoo()\n", 2000), false, false},
		{"long array", "[" + strings.Repeat("-1, a.b, !c, ", 5000) + "]", false, false},
		{"jsx siblings", strings.Repeat("<li key={i}>{a.b}</li>\n", 3000), true, false},
		{"self-closing jsx", strings.Repeat("<br />", 3000), true, false},
		{"regex with brackets", strings.Repeat("x = /[(]\\(/.test(s);\n", 2000), false, false},
		{"templates", strings.Repeat("s = `a ${b.c} ${`d${e}`}`;\n", 2000), false, false},
		{"generics in ts", strings.Repeat("let m: Map<string, Array<number>> = new Map<string, number[]>();\n", 2000), false, false},
		{"unary chain", "x = " + strings.Repeat("!", 2000) + "a", false, true},
		{"unary chain spaced over lines", "x = " + strings.Repeat("- \n", 2000) + "a", false, true},
		{"member chain", "a" + strings.Repeat("\n.b", 2000), false, true},
		{"arrow chain", strings.Repeat("a => ", 2000), false, true},
		{"assignment chain", strings.Repeat("a =\n", 2000), false, true},
		{"new chain", strings.Repeat("new\n", 2000) + "X", false, true},
		{"jsx nesting", strings.Repeat("<div>", 2000), true, true},
		{"template nesting", strings.Repeat("`${", 2000), false, true},
		{"ts assertion chain", strings.Repeat("<T>", 2000) + "x", false, true},
		{"brackets", strings.Repeat("[", 2000), false, true},
	} {
		if got := jsDepth([]byte(tc.src), tc.jsx, jsMaxDepth) >= 0; got != tc.deep {
			t.Errorf("%s: deep = %v, want %v", tc.name, got, tc.deep)
		}
	}
}
