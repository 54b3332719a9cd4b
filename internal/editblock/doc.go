package editblock

import (
	"bytes"
	"hash/maphash"
	"sort"
	"strings"
)

// doc is one file being edited block by block. It starts on the fast path:
// the original bytes and a list of replaced spans, each found with
// bytes.Index on line boundaries, and it builds the line structures of the
// tolerant cascade (a *text) only when a block needs them, replaying the
// blocks it already applied. The fast path gives exactly the result the
// cascade would: it takes a block only when the cascade's first step (an
// exact, unique match) decides it.
type doc struct {
	path string
	orig []byte

	fast    bool
	edits   []span        // fast path: sorted by start, disjoint, in orig's coordinates
	done    []*block      // blocks applied so far, to replay on the slow path
	reps    []BlockReport // their reports (on the fast path, Line is -(offset+1) until finish)
	slow    *text         // set once the doc left the fast path
	scratch []byte
	flat    []byte // the current content, for the indentation step

	// Line hashes of the original, built at the second block: one pass
	// over the file, after which finding a block costs the number of
	// lines, not the bytes (a block no longer scans the file again).
	seed   maphash.Seed
	starts []int32 // offset of each line
	hashes []uint64
	blocks int // blocks tried on the fast path
}

// span is a replaced range of the original: bytes [s, e) become repl.
type span struct {
	s, e  int
	repl  []byte
	order int // the block's position among the applied ones, for line numbers
}

// newDoc returns the doc of content. The fast path takes only what it can
// decide byte for byte: LF line endings, a final newline and no byte order
// mark (files with CRLF, a BOM or no final newline go the line way).
func newDoc(path string, content []byte) *doc {
	d := &doc{path: path, orig: content}
	d.fast = len(content) > 0 && content[len(content)-1] == '\n' &&
		bytes.IndexByte(content, '\r') < 0 && !bytes.HasPrefix(content, []byte("\ufeff"))
	if !d.fast {
		d.slow = newText(content, newTable(1024))
	}
	return d
}

// slowDoc wraps a text already built (the unified-diff applier's).
func slowDoc(path string, orig []byte, t *text) *doc {
	return &doc{path: path, orig: orig, slow: t}
}

func (d *doc) clone() *doc {
	c := *d
	c.edits = append([]span(nil), d.edits...)
	c.done = append([]*block(nil), d.done...)
	c.reps = append([]BlockReport(nil), d.reps...)
	c.scratch, c.flat = nil, nil // (the line hashes are shared: they never change)
	if d.slow != nil {
		c.slow = d.slow.clone()
	}
	return &c
}

// upgrade leaves the fast path: the text of the original, with the blocks
// applied so far applied again (each was an exact unique match, so it
// applies the same way).
func (d *doc) upgrade() {
	if !d.fast {
		return
	}
	d.fast = false
	d.slow = newText(d.orig, newTable(1024))
	for i, b := range d.done {
		d.reps[i], _ = d.slow.applyBlock(b, d.path)
	}
	d.edits = nil
}

// apply applies b, or says why not; a refused block changes nothing.
func (d *doc) apply(b *block) (BlockReport, *Failure) {
	if d.fast && !b.other {
		if rep, ok := d.tryFast(b); ok {
			d.done, d.reps = append(d.done, b), append(d.reps, rep)
			return rep, nil
		}
	}
	d.upgrade()
	rep, fail := d.slow.applyBlock(b, d.path)
	if fail == nil {
		d.done, d.reps = append(d.done, b), append(d.reps, rep)
	}
	return rep, fail
}

// tryFast applies b on the fast path when the cascade's first reading
// (the last divider whose SEARCH is not blank) matches exactly once.
func (d *doc) tryFast(b *block) (BlockReport, bool) {
	for k := len(b.dividers) - 1; k >= 0; k-- {
		search, replace := b.split(k)
		if allBlank(search) {
			if k != 0 {
				continue
			}
			return BlockReport{}, false // an append: the line way handles fences and endings
		}
		pat := joinLines(search)
		pos, n := d.inOrig(pat)
		if n > 1 || d.nearEdits(pat) {
			return BlockReport{}, false
		}
		strategy, sp := StrategyExact, span{s: pos, e: pos + len(pat), repl: joinLines(replace)}
		if n == 0 {
			// Not there as written: the cascade's next step, a uniform
			// indentation offset, still on bytes.
			var ok bool
			if sp, ok = d.indented(search, replace); !ok {
				return BlockReport{}, false
			}
			strategy = StrategyIndent
		}
		sp.order = len(d.done)
		i := sort.Search(len(d.edits), func(i int) bool { return d.edits[i].s >= sp.s })
		d.edits = append(d.edits, span{})
		copy(d.edits[i+1:], d.edits[i:])
		d.edits[i] = sp
		return BlockReport{Block: b.n, ReplyLine: b.line, Path: d.path, Strategy: strategy,
			Line: -(sp.s + 1), Lines: len(search)}, true
	}
	return BlockReport{}, false
}

// joinLines renders lines with "\n" endings.
func joinLines(lines []string) []byte {
	n := 0
	for _, l := range lines {
		n += len(l) + 1
	}
	out := make([]byte, 0, n)
	for _, l := range lines {
		out = append(out, l...)
		out = append(out, '\n')
	}
	return out
}

// inOrig finds pat (whole lines, ending in "\n") in the original at a
// line start, outside the spans already replaced: the first place, and
// how many there are (0, 1, or 2 for "more than one").
func (d *doc) inOrig(pat []byte) (int, int) {
	if d.blocks++; d.blocks > 1 && len(d.orig) <= 1<<31-1 {
		return d.inOrigLines(pat)
	}
	found, n := -1, 0
	f := newFinder(pat)
	for from := 0; from <= len(d.orig)-len(pat); {
		p := f.next(d.orig, from)
		if p < 0 {
			break
		}
		from = p + 1
		if p > 0 && d.orig[p-1] != '\n' {
			continue
		}
		if d.overlaps(p, p+len(pat)) {
			continue
		}
		if n++; n == 2 {
			return found, 2
		}
		found = p
		// The next candidate starts on the next line at the earliest.
		if j := bytes.IndexByte(d.orig[p:], '\n'); j >= 0 {
			from = p + j + 1
		}
	}
	return found, n
}

// inOrigLines is inOrig on the line hashes.
func (d *doc) inOrigLines(pat []byte) (int, int) {
	if d.hashes == nil {
		d.seed = maphash.MakeSeed()
		n := bytes.Count(d.orig, []byte("\n"))
		d.starts, d.hashes = make([]int32, 0, n), make([]uint64, 0, n)
		for at := 0; at < len(d.orig); {
			j := bytes.IndexByte(d.orig[at:], '\n')
			d.starts = append(d.starts, int32(at))
			d.hashes = append(d.hashes, maphash.Bytes(d.seed, d.orig[at:at+j]))
			at += j + 1
		}
	}
	var want []uint64
	for rest := pat; len(rest) > 0; {
		j := bytes.IndexByte(rest, '\n')
		want = append(want, maphash.Bytes(d.seed, rest[:j]))
		rest = rest[j+1:]
	}
	found, n := -1, 0
	kmp(d.hashes, want, func(i int) bool {
		p := int(d.starts[i])
		if p+len(pat) > len(d.orig) || !bytes.Equal(d.orig[p:p+len(pat)], pat) || d.overlaps(p, p+len(pat)) {
			return true
		}
		if n++; n == 1 {
			found = p
		}
		return n < 2
	})
	return found, n
}

// finder finds a pattern by a piece of at most 64 bytes that starts at its
// first byte that is not white space: the standard library searches such a
// piece with vector instructions, where a long pattern that starts with
// indentation falls back to a hash scan several times slower.
type finder struct {
	pat, piece []byte
	k          int // offset of piece in pat
}

func newFinder(pat []byte) finder {
	k := 0
	for k < len(pat)-1 && (pat[k] == ' ' || pat[k] == '\t' || pat[k] == '\n') {
		k++
	}
	end := min(len(pat), k+64)
	return finder{pat: pat, piece: pat[k:end], k: k}
}

// next returns the first offset at or after from where pat occurs in s,
// or -1.
func (f finder) next(s []byte, from int) int {
	for at := from + f.k; at+len(f.piece) <= len(s); {
		i := bytes.Index(s[at:], f.piece)
		if i < 0 {
			return -1
		}
		p := at + i - f.k
		if p+len(f.pat) <= len(s) && bytes.Equal(s[p:p+len(f.pat)], f.pat) {
			return p
		}
		at += i + 1
	}
	return -1
}

// overlaps reports whether [s, e) meets a replaced span.
func (d *doc) overlaps(s, e int) bool {
	i := sort.Search(len(d.edits), func(i int) bool { return d.edits[i].e > s })
	return i < len(d.edits) && d.edits[i].s < e
}

// nearEdits reports whether pat occurs, on line boundaries, in the current
// content at a place that meets a replacement (inside it, or across a seam
// where a span was replaced): such a match is not in the original, so only
// the line way can weigh it.
func (d *doc) nearEdits(pat []byte) bool {
	L := len(pat)
	for j := range d.edits {
		w, seam, atStart := d.window(j, L)
		for from := 0; from <= len(w)-L; {
			i := bytes.Index(w[from:], pat)
			if i < 0 {
				break
			}
			p := from + i
			from = p + 1
			if p == 0 && !atStart {
				continue // the byte before is unknown, and the match ends before the replacement anyway
			}
			if p > 0 && w[p-1] != '\n' {
				continue
			}
			if p < seam+len(d.edits[j].repl) && p+L > seam {
				return true
			}
		}
	}
	return false
}

// window renders the current content around edit j: up to L+1 bytes
// before its replacement, the replacement, and up to L bytes after. seam
// is where the replacement starts in the window; atStart reports that the
// window starts at the start of the content.
func (d *doc) window(j, L int) (w []byte, seam int, atStart bool) {
	var left []byte
	need := L + 1
	k, end := j, d.edits[j].s
	for need > 0 {
		start := 0
		if k > 0 {
			start = d.edits[k-1].e
		}
		seg := d.orig[start:end]
		if len(seg) >= need {
			left = append(append([]byte(nil), seg[len(seg)-need:]...), left...)
			need = 0
			break
		}
		left = append(append([]byte(nil), seg...), left...)
		need -= len(seg)
		if k == 0 {
			atStart = true
			break
		}
		k--
		r := d.edits[k].repl
		if len(r) >= need {
			left = append(append([]byte(nil), r[len(r)-need:]...), left...)
			need = 0
			break
		}
		left = append(append([]byte(nil), r...), left...)
		need -= len(r)
		end = d.edits[k].s
	}
	w = append(d.scratch[:0], left...)
	seam = len(w)
	w = append(w, d.edits[j].repl...)
	need = L
	for k := j; need > 0; k++ {
		stop := len(d.orig)
		if k+1 < len(d.edits) {
			stop = d.edits[k+1].s
		}
		seg := d.orig[d.edits[k].e:stop]
		if len(seg) >= need {
			w = append(w, seg[:need]...)
			break
		}
		w = append(w, seg...)
		need -= len(seg)
		if k+1 >= len(d.edits) {
			break
		}
		r := d.edits[k+1].repl
		if len(r) >= need {
			w = append(w, r[:need]...)
			break
		}
		w = append(w, r...)
		need -= len(r)
	}
	d.scratch = w
	return w, seam, atStart
}

// bytes renders the current content.
func (d *doc) bytes() []byte {
	if !d.fast {
		return d.slow.bytes()
	}
	// bytes.Join allocates without zeroing the memory it then fills.
	pieces := make([][]byte, 0, 2*len(d.edits)+1)
	at := 0
	for _, e := range d.edits {
		pieces = append(pieces, d.orig[at:e.s], e.repl)
		at = e.e
	}
	out := bytes.Join(append(pieces, d.orig[at:]), nil)
	if out == nil {
		out = []byte{}
	}
	return out
}

// finish fills in the Line of the fast path's reports (kept as
// -(offset+1) in the original): the line in the content as it was when
// the block applied, so earlier blocks above it count. One pass over the
// original whatever the number of blocks.
func (d *doc) finish() {
	if !d.fast || len(d.edits) == 0 {
		return
	}
	type mark struct{ line, delta int }
	marks := make([]mark, len(d.edits))  // by span, in offset order
	byOrder := make([]int, len(d.edits)) // block order -> span index
	prev, line := 0, 0
	for i, e := range d.edits {
		line += bytes.Count(d.orig[prev:e.s], []byte("\n"))
		prev = e.s
		marks[i] = mark{line: line + 1,
			delta: bytes.Count(e.repl, []byte("\n")) - bytes.Count(d.orig[e.s:e.e], []byte("\n"))}
		byOrder[e.order] = i
	}
	for o := range d.reps {
		i := byOrder[o]
		l := marks[i].line
		for k := 0; k < i; k++ {
			if d.edits[k].order < o {
				l += marks[k].delta
			}
		}
		d.reps[o].Line = l
	}
}

// diff returns the unified diff from the original to the current content
// (new, as bytes returned). On the fast path it looks only at the lines
// around the replaced spans.
func (d *doc) diff(newContent []byte) string {
	if !d.fast {
		if bytes.Equal(d.orig, newContent) {
			return ""
		}
		return Diff(d.path, d.orig, newContent)
	}
	// The spans say whether anything changed: comparing the whole file
	// would read it twice more.
	same := true
	for _, e := range d.edits {
		if !bytes.Equal(d.orig[e.s:e.e], e.repl) {
			same = false
			break
		}
	}
	if same {
		return ""
	}
	const ctx = 3
	var out strings.Builder
	out.WriteString("--- a/" + d.path + "\n+++ b/" + d.path + "\n")
	// Clusters of spans closer than 2*ctx lines, each with ctx lines of
	// context, are diffed on their own: the lines between clusters are
	// equal and too many to share a hunk.
	lineAt, prev := 0, 0 // line index of offset prev
	lineOf := func(off int) int {
		lineAt += bytes.Count(d.orig[prev:off], []byte("\n"))
		prev = off
		return lineAt
	}
	deltaLines := 0 // lines the spans before the cluster add
	for i := 0; i < len(d.edits); {
		j := i
		sLine := lineOf(d.edits[i].s)
		for j+1 < len(d.edits) {
			nl := bytes.Count(d.orig[d.edits[j].e:d.edits[j+1].s], []byte("\n"))
			if nl > 2*ctx {
				break
			}
			j++
		}
		ws := backLines(d.orig, d.edits[i].s, ctx)
		we := fwdLines(d.orig, d.edits[j].e, ctx)
		wsLine := sLine - bytes.Count(d.orig[ws:d.edits[i].s], []byte("\n"))
		var nb bytes.Buffer
		at := ws
		addLines := 0
		for k := i; k <= j; k++ {
			e := d.edits[k]
			nb.Write(d.orig[at:e.s])
			nb.Write(e.repl)
			at = e.e
			addLines += bytes.Count(e.repl, []byte("\n")) - bytes.Count(d.orig[e.s:e.e], []byte("\n"))
		}
		nb.Write(d.orig[at:we])
		a, b := rawLines(string(d.orig[ws:we])), rawLines(nb.String())
		writeHunks(&out, lineDiff(a, b), a, b, wsLine, wsLine+deltaLines)
		deltaLines += addLines
		i = j + 1
	}
	return out.String()
}

// backLines returns the offset n lines above the line starting at off.
func backLines(s []byte, off, n int) int {
	for ; n > 0 && off > 0; n-- {
		i := bytes.LastIndexByte(s[:off-1], '\n')
		off = i + 1
	}
	return off
}

// fwdLines returns the offset n lines below the line starting at off.
func fwdLines(s []byte, off, n int) int {
	for ; n > 0 && off < len(s); n-- {
		i := bytes.IndexByte(s[off:], '\n')
		if i < 0 {
			return len(s)
		}
		off += i + 1
	}
	return off
}
