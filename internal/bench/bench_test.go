package bench

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

func TestBenchStatAndRatio(t *testing.T) {
	s := stat([]float64{3, 1, 2})
	if s.Min != 1 || s.Median != 2 || s.Max != 3 {
		t.Errorf("stat = %+v", s)
	}
	if p := newPair("rate", "/s", []float64{10}, "ceiling", []float64{40}, false); p.Ratio != 25 || p.Times != 0.25 {
		t.Errorf("rate pair %+v", p)
	}
	if p := newPair("time", "ms", []float64{40}, "ceiling", []float64{10}, true); p.Ratio != 25 || p.Times != 4 {
		t.Errorf("time pair %+v", p)
	}
}

func TestBenchEditShort(t *testing.T) {
	r, err := Edit(Options{Short: true, Repeat: 1})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	r.Write(&b)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if last := lines[len(lines)-1]; !regexp.MustCompile(`^edit: .+ ratio \d+\.\d%$`).MatchString(last) {
		t.Errorf("last line %q", last)
	}
}
