package bench

import (
	"fmt"
	"math"
	"time"

	"github.com/devbot-hq/devbot/internal/editblock"
	"github.com/devbot-hq/devbot/internal/editblock/editblocktest"
)

// The edit engine's cases of internal/editblock's benchmarks, each beside
// its floor: bytes.Index of every SEARCH text, then one copy of the file.

type editCase struct {
	name    string
	size    int
	blocks  int
	outdent bool
	multi   bool
}

func editCases(short bool) []editCase {
	if short {
		return []editCase{{name: "exact 64KiB/1", size: 64 << 10, blocks: 1},
			{name: "tolerant 64KiB/5", size: 64 << 10, blocks: 5, outdent: true},
			{name: "multi-file 10×100KiB/3", multi: true}}
	}
	return []editCase{
		{name: "exact 64KiB/1", size: 64 << 10, blocks: 1},
		{name: "exact 1MiB/1", size: 1 << 20, blocks: 1},
		{name: "exact 1MiB/20", size: 1 << 20, blocks: 20},
		{name: "exact 1MiB/100", size: 1 << 20, blocks: 100},
		{name: "exact 4MiB/1", size: 4 << 20, blocks: 1},
		{name: "exact 4MiB/100", size: 4 << 20, blocks: 100},
		{name: "tolerant 64KiB/5", size: 64 << 10, blocks: 5, outdent: true},
		{name: "tolerant 1MiB/5", size: 1 << 20, blocks: 5, outdent: true},
		{name: "tolerant 4MiB/20", size: 4 << 20, blocks: 20, outdent: true},
		{name: "multi-file 10×100KiB/3", multi: true},
	}
}

// prepare returns the engine's operation and the floor's for a case.
func (c editCase) prepare() (op func() error, floor func()) {
	if c.multi {
		t, files, searches, reply := editblocktest.MultiFile()
		tree := editblock.MapTree(t)
		return func() error {
				cs, err := editblock.ApplySet(tree, reply)
				if err == nil && len(cs.Files) != 10 {
					err = fmt.Errorf("%d files changed, want 10", len(cs.Files))
				}
				return err
			}, func() {
				editblocktest.Floor(files, searches)
			}
	}
	file, n := editblocktest.BenchFile(c.size)
	content := []byte(file)
	resp, searches := editblocktest.BenchReply("app.py", n, c.blocks, c.outdent, false)
	return func() error {
			res, err := editblock.Apply("app.py", content, resp)
			if err == nil && (len(res.Blocks) != c.blocks || res.Diff == "") {
				err = fmt.Errorf("%d blocks applied, want %d", len(res.Blocks), c.blocks)
			}
			return err
		}, func() {
			editblocktest.Floor([][]byte{content}, [][][]byte{searches})
		}
}

// timeLoop runs f until about d has passed (at least once) and returns
// the mean time of one run in µs.
func timeLoop(d time.Duration, f func() error) (float64, error) {
	t0 := time.Now()
	n := 0
	for {
		if err := f(); err != nil {
			return 0, err
		}
		n++
		if el := time.Since(t0); el >= d {
			return float64(el.Nanoseconds()) / 1e3 / float64(n), nil
		}
	}
}

// Edit times each of the engine's cases beside its floor.
func Edit(o Options) (Report, error) {
	d := 300 * time.Millisecond
	if o.Short {
		d = 5 * time.Millisecond
	}
	if o.Duration > 0 {
		d = o.Duration
	}
	r := Report{Part: "edit", Setup: fmt.Sprintf("edit engine (editblock.Apply / ApplySet) beside its floor "+
		"(bytes.Index of every SEARCH text + one copy of the file), %v per measurement, %d rounds", d, o.repeat())}
	logSum, worst, worstName := 0.0, 0.0, ""
	for _, c := range editCases(o.Short) {
		op, floor := c.prepare()
		if err := op(); err != nil {
			return r, fmt.Errorf("%s: %w", c.name, err)
		}
		fig, ceil, err := interleave(o.repeat(), func() (float64, error) { return timeLoop(d, op) },
			func() (float64, error) { return timeLoop(d, func() error { floor(); return nil }) })
		if err != nil {
			return r, fmt.Errorf("%s: %w", c.name, err)
		}
		p := newPair(c.name, "µs", fig, "floor", ceil, true)
		o.logf("edit: %s: %s µs, floor %s µs, %s× the floor", c.name, p.Figure, p.Ceiling, num(p.Times))
		r.Pairs = append(r.Pairs, p)
		logSum += math.Log(p.Times)
		if p.Times > worst {
			worst, worstName = p.Times, c.name
		}
	}
	geo := math.Exp(logSum / float64(len(r.Pairs)))
	r.Summary = summaryLine("edit", fmt.Sprintf("%d cases, geometric mean %s× the floor, worst %s %s×", len(r.Pairs),
		num(geo), worstName, num(worst)), 100/geo)
	return r, nil
}
