package editblock

import (
	"fmt"
	"path"
	"strings"
	"unicode"
)

// Strategies, as reported per block.
const (
	StrategyExact         = "exact"          // the SEARCH lines as written
	StrategyIndent        = "indent"         // a uniform leading-white-space offset; REPLACE re-indented
	StrategyLeadingBlank  = "leading-blank"  // a spurious blank first SEARCH line dropped
	StrategyTrailingBlank = "trailing-blank" // a blank last SEARCH line the file lacks dropped
	StrategyElision       = "elision"        // "..." lines cut SEARCH and REPLACE into pieces
	StrategyUnfenced      = "unfenced"       // SEARCH (and REPLACE) wrapped in a fence, unwrapped
	StrategyAppend        = "append"         // empty SEARCH: REPLACE added at the end
	StrategyCreate        = "create"         // empty SEARCH on an empty file
	StrategyHunk          = "hunk"           // a unified-diff hunk at its stated line
	StrategyHunkOffset    = "hunk-offset"    // a unified-diff hunk found at another line
)

// found is where a block applies and what replaces the lines.
type found struct {
	pos, n   int
	repl     []string
	strategy string
	after    *text // set by elision, which edits in several places
}

// miss says why a block did not apply.
type miss struct {
	ambiguous []int // 0-based lines where the SEARCH text matches equally well
	reason    string
}

// kmp calls yield for each occurrence of pat in s, in order, until it
// returns false. Linear in len(s)+len(pat), so repetitive files cost no
// more than others.
func kmp[T comparable](s, pat []T, yield func(pos int) bool) {
	m := len(pat)
	if m == 0 || m > len(s) {
		return
	}
	fail := make([]int, m)
	for i, k := 1, 0; i < m; i++ {
		for k > 0 && pat[i] != pat[k] {
			k = fail[k-1]
		}
		if pat[i] == pat[k] {
			k++
		}
		fail[i] = k
	}
	for i, k := 0, 0; i < len(s); i++ {
		for k > 0 && s[i] != pat[k] {
			k = fail[k-1]
		}
		if s[i] == pat[k] {
			k++
		}
		if k == m {
			if !yield(i - m + 1) {
				return
			}
			k = fail[k-1]
		}
	}
}

func (t *text) intern(lines []string) []int32 {
	ids := make([]int32, len(lines))
	for i, l := range lines {
		ids[i] = t.tab.id(l)
	}
	return ids
}

// exact returns up to two positions where search occurs.
func (t *text) exact(search []string) []int {
	var pos []int
	kmp(t.ids, t.intern(search), func(p int) bool {
		pos = append(pos, p)
		return len(pos) < 2
	})
	return pos
}

// exactOrIndent is steps 1 and 2 of the cascade: the SEARCH lines as they
// are, else (only when they occur nowhere) the same lines at a uniform
// leading-white-space offset.
func (t *text) exactOrIndent(search, replace []string) (*found, *miss) {
	switch pos := t.exact(search); len(pos) {
	case 1:
		return &found{pos: pos[0], n: len(search), repl: replace, strategy: StrategyExact}, nil
	case 2:
		return nil, &miss{ambiguous: pos}
	}
	// Outdent SEARCH and REPLACE by the white space they share, as Aider
	// does, then look for the lines at one offset.
	outdent := -1
	for _, l := range append(append([]string(nil), search...), replace...) {
		if !isBlank(l) {
			if n := len(leadingSpace(l)); outdent < 0 || n < outdent {
				outdent = n
			}
		}
	}
	if outdent < 0 {
		return nil, nil // nothing but blank lines
	}
	cut := func(ls []string) []string {
		out := make([]string, len(ls))
		for i, l := range ls {
			if isBlank(l) {
				out[i] = l
			} else {
				out[i] = l[outdent:]
			}
		}
		return out
	}
	search, replace = cut(search), cut(replace)
	hits, add := t.indentHits(search)
	switch len(hits) {
	case 0:
		return nil, nil
	case 2:
		return nil, &miss{ambiguous: hits}
	}
	repl := make([]string, len(replace))
	for i, l := range replace {
		if isBlank(l) {
			repl[i] = l
		} else {
			repl[i] = add + l
		}
	}
	return &found{pos: hits[0], n: len(search), repl: repl, strategy: StrategyIndent}, nil
}

// indentHits finds up to two places where search occurs with one extra
// leading-white-space prefix on every non-blank line (blank lines match
// blank lines). Each prefix the file can offer is tried with a linear
// search, so the cost is the number of distinct indentations times the
// file, never the file times the block.
func (t *text) indentHits(search []string) (hits []int, add string) {
	k0 := -1
	for k, l := range search {
		if !isBlank(l) {
			k0 = k
			break
		}
	}
	if k0 < 0 {
		return nil, ""
	}
	empty := t.tab.id("")
	first := t.tab.trimmed(t.tab.id(search[k0]))
	ws0 := leadingSpace(search[k0])
	var adds []string
	seen := map[string]bool{}
	mapped := make([]int32, len(t.ids))
	for i, id := range t.ids {
		tr := t.tab.trimmed(id)
		mapped[i] = id
		if tr == empty {
			mapped[i] = -2 // any blank line
		}
		if tr == first {
			if ws := leadingSpace(t.tab.strs[id]); strings.HasSuffix(ws, ws0) {
				if a := ws[:len(ws)-len(ws0)]; !seen[a] {
					seen[a] = true
					adds = append(adds, a)
				}
			}
		}
	}
	pat := make([]int32, len(search))
	for _, a := range adds {
		for k, l := range search {
			if isBlank(l) {
				pat[k] = -2
			} else {
				pat[k] = t.tab.id(a + l)
			}
		}
		kmp(mapped, pat, func(p int) bool {
			if len(hits) == 0 {
				add = a
			}
			hits = append(hits, p)
			return len(hits) < 2
		})
		if len(hits) >= 2 {
			break
		}
	}
	return hits, add
}

func isDots(l string) bool { return strings.TrimLeftFunc(l, unicode.IsSpace) == "..." }

// locate runs the cascade for one reading of a block. A nil found and a
// nil miss mean "not found".
func (t *text) locate(search, replace []string, unfence bool) (*found, *miss) {
	if f, m := t.exactOrIndent(search, replace); f != nil || m != nil {
		return f, m
	}
	if len(search) > 2 && isBlank(search[0]) {
		if f, m := t.exactOrIndent(search[1:], replace); f != nil || m != nil {
			if f != nil {
				f.strategy = StrategyLeadingBlank
			}
			return f, m
		}
	}
	if n := len(search); n >= 2 && search[n-1] == "" {
		r := replace
		if k := len(r); k > 0 && r[k-1] == "" {
			r = r[:k-1]
		}
		if f, m := t.exactOrIndent(search[:n-1], r); f != nil || m != nil {
			if f != nil {
				f.strategy = StrategyTrailingBlank
			}
			return f, m
		}
	}
	if f, m := t.elide(search, replace); f != nil || m != nil {
		return f, m
	}
	if n := len(search); unfence && n >= 2 && isFence(strings.TrimSpace(search[0])) && isFence(strings.TrimSpace(search[n-1])) {
		r := replace
		if k := len(r); k >= 2 && isFence(strings.TrimSpace(r[0])) && isFence(strings.TrimSpace(r[k-1])) {
			r = r[1 : k-1]
		}
		if f, m := t.locate(search[1:n-1], r, false); f != nil || m != nil {
			if f != nil {
				f.strategy = StrategyUnfenced
			}
			return f, m
		}
	}
	return nil, nil
}

// elide applies a block whose SEARCH and REPLACE are cut into pieces by
// "..." lines: the same number of pieces, the same "..." lines, and each
// SEARCH piece found exactly once, on line boundaries.
func (t *text) elide(search, replace []string) (*found, *miss) {
	sp, sd := pieces(search)
	if len(sp) == 1 {
		return nil, nil
	}
	rp, rd := pieces(replace)
	if len(sp) != len(rp) {
		return nil, &miss{reason: fmt.Sprintf("the SEARCH section has %d \"...\" lines and the REPLACE section %d: they must pair up", len(sd), len(rd))}
	}
	for i := range sd {
		if sd[i] != rd[i] {
			return nil, &miss{reason: fmt.Sprintf("\"...\" line %d differs between SEARCH (%q) and REPLACE (%q)", i+1, sd[i], rd[i])}
		}
	}
	work := t.clone()
	first := -1
	for i := range sp {
		s, r := sp[i], rp[i]
		switch {
		case len(s) == 0 && len(r) == 0:
			continue
		case len(s) == 0:
			work.replace(len(work.ids), 0, r)
			continue
		}
		pos := work.exact(s)
		switch len(pos) {
		case 0:
			return nil, &miss{reason: fmt.Sprintf("piece %d of the SEARCH section (between \"...\" lines) is not in the file, starting %q", i+1, s[0])}
		case 2:
			return nil, &miss{reason: fmt.Sprintf("piece %d of the SEARCH section (between \"...\" lines) occurs more than once (lines %d and %d): add context", i+1, pos[0]+1, pos[1]+1)}
		}
		if first < 0 {
			first = pos[0]
		}
		work.replace(pos[0], len(s), r)
	}
	if first < 0 {
		first = 0
	}
	return &found{pos: first, n: len(search) - len(sd), strategy: StrategyElision, after: work}, nil
}

// pieces cuts lines at "..." lines.
func pieces(lines []string) (ps [][]string, dots []string) {
	start := 0
	for i, l := range lines {
		if isDots(l) {
			ps = append(ps, lines[start:i])
			dots = append(dots, l)
			start = i + 1
		}
	}
	return append(ps, lines[start:]), dots
}

// applyBlock applies b to t in place and reports how, or says why not.
func (t *text) applyBlock(b *block, path string) (BlockReport, *Failure) {
	rep := BlockReport{Block: b.n, ReplyLine: b.line, Path: path}
	fail := &Failure{Block: b.n, ReplyLine: b.line}
	if b.other {
		fail.OtherFile = b.name
		fail.Reason = fmt.Sprintf("this block edits %s, but the file being edited is %s: only %s can be changed here", b.name, path, path)
		fail.search, fail.replace = b.split(0)
		return rep, fail
	}
	// With several '=' lines, the real divider is the one whose SEARCH
	// matches; try the longest SEARCH first.
	var firstMiss *miss
	for d := len(b.dividers) - 1; d >= 0; d-- {
		search, replace := b.split(d)
		if allBlank(search) {
			if d != 0 {
				continue
			}
			rep.Strategy = StrategyAppend
			if len(t.ids) == 0 {
				rep.Strategy = StrategyCreate
			}
			if k := len(replace); k >= 2 && !isDocument(path) && isFence(strings.TrimSpace(replace[0])) && isFence(strings.TrimSpace(replace[k-1])) {
				// Aider unwraps a fenced REPLACE too. In a document a fenced
				// code block is content: appending one must keep its fences.
				replace = replace[1 : k-1]
			}
			rep.Line, rep.Lines = len(t.ids)+1, 0
			t.replace(len(t.ids), 0, replace)
			return rep, nil
		}
		f, m := t.locate(search, replace, true)
		if f != nil {
			rep.Strategy, rep.Line, rep.Lines = f.strategy, f.pos+1, f.n
			if f.after != nil {
				*t = *f.after
			} else {
				t.replace(f.pos, f.n, f.repl)
			}
			return rep, nil
		}
		if m != nil && (firstMiss == nil || d == 0) {
			firstMiss = m
		}
	}
	search, replace := b.split(0)
	fail.search, fail.replace = search, replace
	fail.dividers = len(b.dividers)
	if firstMiss != nil && len(firstMiss.ambiguous) > 0 {
		a := firstMiss.ambiguous
		fail.Reason = fmt.Sprintf("the SEARCH text matches %s in more than one place (lines %d and %d at least): add a few lines of context so that it matches exactly one place", path, a[0]+1, a[1]+1)
		return rep, fail
	}
	if firstMiss != nil {
		fail.Reason = firstMiss.reason
	} else {
		fail.Reason = "the SEARCH text is not in " + path
	}
	fail.near = t.nearest(search)
	if !allBlank(replace) && len(t.exact(replace)) > 0 {
		fail.replacePresent = true
	}
	return rep, fail
}

// isDocument reports a file whose content can hold fenced code blocks.
func isDocument(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".md", ".markdown", ".mdx", ".rst", ".txt", ".adoc", ".org", ".ipynb":
		return true
	}
	return false
}

func allBlank(lines []string) bool {
	for _, l := range lines {
		if !isBlank(l) {
			return false
		}
	}
	return true
}
