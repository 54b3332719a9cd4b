// Package bench measures devbot beside a ceiling measured in the same run:
// each figure and its ceiling are run interleaved, Repeat times, and
// reported as min/median/max with the ratio of the medians. It is what
// `devbot bench` runs; see the README's Benchmarks section.
package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Options configure a run. Zero values take each part's defaults.
type Options struct {
	N           int           // pipeline: refinements; ingress/start: requests
	Files       int           // pipeline: files (0: the default set)
	Concurrency int           // pipeline and ingress: requests in flight
	Repeat      int           // rounds of figure and ceiling, interleaved (default 3)
	Duration    time.Duration // ingress: length of one round (0: by N)
	Short       bool          // tiny sizes, for tests
	Lookup      func(string) (string, bool)
	// ModuleDir is the module root, for start (go build); "" finds it.
	ModuleDir string
	// Log receives progress lines (may be nil).
	Log io.Writer
}

func (o Options) repeat() int {
	if o.Repeat <= 0 {
		return 3
	}
	return o.Repeat
}

func (o Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
}

// Stat is min, median and max of a series.
type Stat struct {
	Min    float64   `json:"min"`
	Median float64   `json:"median"`
	Max    float64   `json:"max"`
	Values []float64 `json:"values"`
}

// stat summarizes values.
func stat(values []float64) Stat {
	if len(values) == 0 {
		return Stat{}
	}
	s := slices.Clone(values)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stat{Min: s[0], Median: med, Max: s[len(s)-1], Values: values}
}

// Pair is one figure beside its ceiling.
type Pair struct {
	Name        string `json:"name"`
	Unit        string `json:"unit"` // "/s", "ms", "µs", "MB"…
	Figure      Stat   `json:"figure"`
	CeilingName string `json:"ceiling_name"`
	Ceiling     Stat   `json:"ceiling"`
	// LowerBetter: times and sizes. The ratio is then ceiling/figure,
	// else figure/ceiling: either way the share of the ceiling reached.
	LowerBetter bool `json:"lower_better"`
	// Ratio is that share, from the medians, as a percentage.
	Ratio float64 `json:"ratio_percent"`
	// Times is figure/ceiling (× the ceiling), from the medians.
	Times float64 `json:"times_ceiling"`
}

func newPair(name, unit string, fig []float64, ceilName string, ceil []float64, lowerBetter bool) Pair {
	p := Pair{Name: name, Unit: unit, Figure: stat(fig), CeilingName: ceilName, Ceiling: stat(ceil), LowerBetter: lowerBetter}
	if p.Ceiling.Median > 0 && p.Figure.Median > 0 {
		p.Times = p.Figure.Median / p.Ceiling.Median
		if lowerBetter {
			p.Ratio = 100 * p.Ceiling.Median / p.Figure.Median
		} else {
			p.Ratio = 100 * p.Figure.Median / p.Ceiling.Median
		}
	}
	return p
}

// Report is one part's result.
type Report struct {
	Part  string   `json:"part"`
	Setup string   `json:"setup"`
	Pairs []Pair   `json:"pairs"`
	Notes []string `json:"notes,omitempty"`
	// Figures are the measurements without a ceiling that the notes
	// give, by name (e.g. the pipeline's "statements_per_refinement").
	Figures map[string]Stat `json:"figures,omitempty"`
	// Summary is the last line: "<part>: <figure> ... ratio NN.N%".
	Summary string `json:"summary"`
}

func num(v float64) string {
	a := v
	if a < 0 {
		a = -a
	}
	switch {
	case a == 0:
		return "0"
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	case a >= 10:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

func (s Stat) String() string {
	return fmt.Sprintf("%s/%s/%s", num(s.Min), num(s.Median), num(s.Max))
}

// Write prints a report for people: one line per pair, then the notes,
// then the summary line last.
func (r Report) Write(w io.Writer) {
	fmt.Fprintf(w, "%s: %s\n", r.Part, r.Setup)
	fmt.Fprintf(w, "  (min/median/max of each round; ratio = share of the ceiling reached, from the medians)\n")
	for _, p := range r.Pairs {
		fmt.Fprintf(w, "  %-34s %s %s  beside %s %s %s  ratio %.1f%% (%s× the ceiling)\n", p.Name, p.Figure, p.Unit,
			p.CeilingName, p.Ceiling, p.Unit, p.Ratio, num(p.Times))
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	fmt.Fprintln(w, r.Summary)
}

// WriteJSON prints reports as one JSON array.
func WriteJSON(w io.Writer, reports []Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(reports)
}

// Parts are the parts, in the order `devbot bench` runs them.
var Parts = []string{"edit", "ingress", "start", "pipeline"}

// summaryLine formats the last line.
func summaryLine(part, figure string, ratio float64) string {
	return fmt.Sprintf("%s: %s ratio %.1f%%", part, strings.TrimSpace(figure), ratio)
}

// interleave runs figure and ceiling one after the other, rounds times,
// and returns what each returned per round.
func interleave(rounds int, figure, ceiling func() (float64, error)) (fig, ceil []float64, err error) {
	for range rounds {
		f, err := figure()
		if err != nil {
			return nil, nil, err
		}
		c, err := ceiling()
		if err != nil {
			return nil, nil, err
		}
		fig, ceil = append(fig, f), append(ceil, c)
	}
	return fig, ceil, nil
}
