package editblock

import (
	"fmt"
	"strings"
)

// rawLines splits content after each "\n"; the last piece has no line
// ending when the content does not end with one.
func rawLines(s string) []string {
	if s == "" {
		return nil
	}
	n := strings.Count(s, "\n")
	if !strings.HasSuffix(s, "\n") {
		n++
	}
	out := make([]string, 0, n)
	for len(s) > 0 {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

type opKind byte

const (
	opEq opKind = iota
	opDel
	opIns
)

type op struct {
	kind opKind
	a, b int // index in old (eq, del) and new (eq, ins)
}

// maxEdits bounds the work of the line diff: past it, the changed middle is
// shown as removed and added whole, which is still a correct diff.
const maxEdits = 2000

// lineDiff returns the edit script from a to b (Myers' O(ND) algorithm on
// interned lines, after the common prefix and suffix).
func lineDiff(a, b []string) []op {
	tab := make(map[string]int32, len(a))
	intern := func(ls []string) []int32 {
		out := make([]int32, len(ls))
		for i, l := range ls {
			id, ok := tab[l]
			if !ok {
				id = int32(len(tab))
				tab[l] = id
			}
			out[i] = id
		}
		return out
	}
	x, y := intern(a), intern(b)
	pre := 0
	for pre < len(x) && pre < len(y) && x[pre] == y[pre] {
		pre++
	}
	suf := 0
	for suf < len(x)-pre && suf < len(y)-pre && x[len(x)-1-suf] == y[len(y)-1-suf] {
		suf++
	}
	ops := make([]op, 0, len(x)+len(y))
	for i := 0; i < pre; i++ {
		ops = append(ops, op{opEq, i, i})
	}
	mid := myers(x[pre:len(x)-suf], y[pre:len(y)-suf])
	for _, o := range mid {
		o.a += pre
		o.b += pre
		ops = append(ops, o)
	}
	for i := 0; i < suf; i++ {
		ops = append(ops, op{opEq, len(x) - suf + i, len(y) - suf + i})
	}
	return ops
}

func myers(a, b []int32) []op {
	n, m := len(a), len(b)
	whole := func() []op {
		ops := make([]op, 0, n+m)
		for i := range n {
			ops = append(ops, op{opDel, i, 0})
		}
		for j := range m {
			ops = append(ops, op{opIns, n, j})
		}
		return ops
	}
	if n == 0 || m == 0 {
		return whole()
	}
	limit := min(n+m, maxEdits)
	off := limit + 1
	v := make([]int, 2*limit+3)
	var trace [][]int
	for d := 0; d <= limit; d++ {
		snap := make([]int, 2*d+1)
		copy(snap, v[off-d:off+d+1])
		trace = append(trace, snap)
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1]
			} else {
				x = v[off+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[off+k] = x
			if x >= n && y >= m {
				return backtrack(trace, n, m, d)
			}
		}
	}
	return whole()
}

func backtrack(trace [][]int, n, m, dmax int) []op {
	var rev []op
	x, y := n, m
	for d := dmax; d > 0; d-- {
		v := trace[d] // the state after step d-1, for k in [-d, d]
		at := func(k int) int { return v[k+d] }
		k := x - y
		var pk int
		if k == -d || (k != d && at(k-1) < at(k+1)) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		px := at(pk)
		py := px - pk
		for x > px && y > py {
			x--
			y--
			rev = append(rev, op{opEq, x, y})
		}
		if x == px {
			y--
			rev = append(rev, op{opIns, x, y})
		} else {
			x--
			rev = append(rev, op{opDel, x, y})
		}
	}
	for x > 0 && y > 0 {
		x--
		y--
		rev = append(rev, op{opEq, x, y})
	}
	ops := make([]op, len(rev))
	for i, o := range rev {
		ops[len(rev)-1-i] = o
	}
	return ops
}

// Diff returns a unified diff from old to new for the file at path, with
// a/ and b/ prefixes (for git apply and patch -p1), three lines of
// context, and "\ No newline at end of file" where a side lacks one. Line
// endings are kept byte for byte. Equal contents give "".
func Diff(path string, old, new []byte) string {
	if string(old) == string(new) {
		return ""
	}
	a, b := rawLines(string(old)), rawLines(string(new))
	ops := lineDiff(a, b)
	var out strings.Builder
	fmt.Fprintf(&out, "--- a/%s\n+++ b/%s\n", path, path)
	writeHunks(&out, ops, a, b, 0, 0)
	return out.String()
}

// writeHunks writes the hunks of the edit script ops from a to b, with
// three lines of context; aOff and bOff are the line numbers (0-based) of
// a[0] and b[0] in the files, when a and b are windows of them.
func writeHunks(out *strings.Builder, ops []op, a, b []string, aOff, bOff int) {
	const ctx = 3
	for i := 0; i < len(ops); {
		if ops[i].kind == opEq {
			i++
			continue
		}
		// A hunk: from ctx lines before this change to ctx lines after the
		// last change that is closer than 2*ctx equal lines to the next.
		start := max(i-ctx, 0)
		for start < i && ops[start].kind != opEq {
			start++
		}
		end := i
		for {
			for end < len(ops) && ops[end].kind != opEq {
				end++
			}
			eq := end
			for eq < len(ops) && ops[eq].kind == opEq {
				eq++
			}
			if eq < len(ops) && eq-end <= 2*ctx {
				end = eq
				continue
			}
			end = min(end+ctx, len(ops))
			break
		}
		writeHunk(out, ops[start:end], a, b, aOff, bOff)
		i = end
	}
}

func writeHunk(out *strings.Builder, ops []op, a, b []string, aOff, bOff int) {
	var oldN, newN int
	oldStart, newStart := -1, -1
	for _, o := range ops {
		if o.kind != opIns {
			if oldStart < 0 {
				oldStart = o.a
			}
			oldN++
		}
		if o.kind != opDel {
			if newStart < 0 {
				newStart = o.b
			}
			newN++
		}
	}
	// A side with no lines names the line before the hunk.
	first := ops[0]
	if oldStart < 0 {
		oldStart = first.a
	} else {
		oldStart++
	}
	if newStart < 0 {
		newStart = first.b
	} else {
		newStart++
	}
	oldStart += aOff
	newStart += bOff
	fmt.Fprintf(out, "@@ -%d,%d +%d,%d @@\n", oldStart, oldN, newStart, newN)
	line := func(prefix byte, s string) {
		out.WriteByte(prefix)
		out.WriteString(s)
		if !strings.HasSuffix(s, "\n") {
			out.WriteString("\n\\ No newline at end of file\n")
		}
	}
	for _, o := range ops {
		switch o.kind {
		case opEq:
			line(' ', a[o.a])
		case opDel:
			line('-', a[o.a])
		case opIns:
			line('+', b[o.b])
		}
	}
}
