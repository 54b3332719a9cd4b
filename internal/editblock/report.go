package editblock

import (
	"fmt"
	"html"
	"sort"
	"strings"

	"github.com/devbot-hq/devbot/internal/fault"
)

// Failure is one block that did not apply.
type Failure struct {
	Block     int    // 1-based position among the reply's blocks
	ReplyLine int    // line of its SEARCH marker in the reply
	Reason    string // why, in words meant for the model
	OtherFile string // the file the block names, when it is not the file edited
	Path      string // in a change set, the file the block was for ("" when it names none)

	search, replace []string
	dividers        int
	near            *excerpt
	replacePresent  bool
}

// excerpt is the file's window most similar to a SEARCH text that failed.
type excerpt struct {
	line  int // 1-based
	lines []string
}

// Error is a refused edit: the file was not changed. Its Error() is a
// report written to be sent back to the model as is.
type Error struct {
	Path       string
	Failures   []Failure     // the blocks that did not apply
	Applied    []BlockReport // the blocks that did (not written: every block must apply)
	Malformed  string        // set when the reply could not be read as blocks
	NoBlocks   bool          // the reply held no block (NearMisses may say why)
	NearMisses []string

	report string
	set    bool   // a change set's refusal: Path is "" and each failure has its own
	state  *doc   // content with the applied blocks, for Resume
	orig   []byte // the content the edit started from
}

func (e *Error) Error() string { return e.report }

// Is makes a refusal an invalid input: errors.Is(err, fault.ErrInvalid).
func (e *Error) Is(target error) bool { return target == fault.ErrInvalid }

// nearest finds the window of the file most like search, by votes of lines
// equal but for leading white space. Lines that are very frequent (braces,
// blank lines) do not vote, which keeps the cost linear even for files of
// thousands of near-identical lines.
func (t *text) nearest(search []string) *excerpt {
	const maxFreq = 64
	var want []int
	for k, l := range search {
		if !isBlank(l) {
			want = append(want, k)
		}
	}
	if len(want) == 0 || len(t.ids) == 0 {
		return nil
	}
	// Keys ignore surrounding white space, so lines that differ only in
	// indentation or trailing spaces are found.
	needed := make(map[string][]int, len(want))
	for _, k := range want {
		key := strings.TrimSpace(search[k])
		needed[key] = append(needed[key], k)
	}
	where := make(map[string][]int, len(needed))
	for i, id := range t.ids {
		key := strings.TrimSpace(t.tab.strs[id])
		if _, ok := needed[key]; ok && len(where[key]) <= maxFreq {
			where[key] = append(where[key], i)
		}
	}
	votes := map[int]int{}
	for id, ks := range needed {
		ps := where[id]
		if len(ps) > maxFreq {
			continue
		}
		for _, p := range ps {
			for _, k := range ks {
				votes[p-k]++
			}
		}
	}
	best, bestVotes := 0, 0
	for start, v := range votes {
		if v > bestVotes || (v == bestVotes && start < best) {
			best, bestVotes = start, v
		}
	}
	if bestVotes*2 < len(want) {
		best = t.similarLine(search, want)
		if best == noLine {
			return nil
		}
	}
	lo, hi := max(best, 0), min(best+len(search), len(t.ids))
	ex := &excerpt{line: lo + 1}
	for i := lo; i < hi; i++ {
		ex.lines = append(ex.lines, t.line(i))
	}
	return ex
}

// fenceFor returns a fence longer than any run of backticks that starts a
// line of lines, so content never closes it.
func fenceFor(lines ...[]string) string {
	n := 3
	for _, ls := range lines {
		for _, l := range ls {
			if r := markerRun(strings.TrimSpace(l), '`'); r >= n {
				n = r + 1
			}
		}
	}
	return strings.Repeat("`", n)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// render writes the report.
func (e *Error) render() {
	var b strings.Builder
	// What was not changed: the file, or for a change set every file.
	unchanged := e.Path + " was not changed"
	if e.set {
		unchanged = "no file was changed"
	}
	switch {
	case e.Malformed != "":
		fmt.Fprintf(&b, "The reply could not be read as SEARCH/REPLACE blocks, so %s:\n%s\n", unchanged, e.Malformed)
		b.WriteString(e.reminder())
	case e.NoBlocks:
		fmt.Fprintf(&b, "No SEARCH/REPLACE block was found in the reply, so %s.\n", unchanged)
		for _, n := range e.NearMisses {
			fmt.Fprintf(&b, "- %s\n", n)
		}
		b.WriteString(e.reminder())
	default:
		total := len(e.Failures) + len(e.Applied)
		fmt.Fprintf(&b, "%s of %d failed, so %s (every block must apply).\n",
			plural(len(e.Failures), "SEARCH/REPLACE block", "SEARCH/REPLACE blocks"), total, unchanged)
		for _, f := range e.Failures {
			path := e.Path
			if e.set {
				path = f.Path
				file := f.Path
				if file == "" {
					file = "no file"
				}
				fmt.Fprintf(&b, "\n## Block %d (line %d of the reply), %s: %s\n", f.Block, f.ReplyLine, file, f.Reason)
			} else {
				fmt.Fprintf(&b, "\n## Block %d (line %d of the reply): %s\n", f.Block, f.ReplyLine, f.Reason)
			}
			if e.set && f.search == nil && f.replace == nil {
				continue // a directive, or a block that names no file: the reason says it all
			}
			fence := fenceFor(f.search, f.replace)
			fmt.Fprintf(&b, "%s\n<<<<<<< SEARCH\n", fence)
			for _, l := range f.search {
				b.WriteString(l + "\n")
			}
			b.WriteString("=======\n")
			for _, l := range f.replace {
				b.WriteString(l + "\n")
			}
			fmt.Fprintf(&b, ">>>>>>> REPLACE\n%s\n", fence)
			if f.near != nil {
				fence := fenceFor(f.near.lines)
				fmt.Fprintf(&b, "\nDid you mean to match these lines of %s (from line %d)?\n%s\n%s\n%s\n",
					path, f.near.line, fence, strings.Join(f.near.lines, "\n"), fence)
			}
			if f.replacePresent {
				fmt.Fprintf(&b, "\nThe REPLACE lines are already in %s: is this change already made?\n", path)
			}
			if f.dividers > 1 {
				fmt.Fprintf(&b, "\nThis block has %d lines of '=' between its markers; none of its readings matched.\n", f.dividers)
			}
			if f.near == nil && strings.HasPrefix(f.Reason, "the SEARCH text is not") {
				b.WriteString("\nThe SEARCH section must match lines of the file exactly, including white space, comments and docstrings.\n")
			}
		}
		if len(e.Applied) > 0 {
			ns := make([]string, len(e.Applied))
			for i, a := range e.Applied {
				ns[i] = fmt.Sprint(a.Block)
			}
			sort.Strings(ns)
			fmt.Fprintf(&b, "\nThe other %s (%s) matched.\n", plural(len(e.Applied), "block", "blocks"), strings.Join(ns, ", "))
		}
	}
	e.report = strings.TrimRight(b.String(), "\n")
}

func (e *Error) reminder() string {
	if e.set {
		return formatReminder + setReminder
	}
	return formatReminder
}

const setReminder = `
To delete or rename a file, write one line for it, outside any block:
<<<<<<< DELETE path/to/file
<<<<<<< RENAME old/path -> new/path`

const formatReminder = `
Give every change as a SEARCH/REPLACE block:
path/to/file
` + "```" + `
<<<<<<< SEARCH
lines copied exactly from the file
=======
the lines that replace them
>>>>>>> REPLACE
` + "```"

const noLine = -1 << 31

// similarLine is the fallback of nearest when no line is equal: the file
// line most like one of the longest SEARCH lines, by the Dice coefficient
// of their character bigrams (linear in the file), as the window start.
func (t *text) similarLine(search []string, want []int) int {
	var ks []int
	distinct := map[string]bool{}
	for _, k := range want {
		if s := strings.TrimSpace(search[k]); !distinct[s] {
			distinct[s] = true
			ks = append(ks, k)
		}
	}
	sort.Slice(ks, func(i, j int) bool {
		return len(strings.TrimSpace(search[ks[i]])) > len(strings.TrimSpace(search[ks[j]]))
	})
	if len(ks) > 3 {
		ks = ks[:3]
	}
	best, bestScore := noLine, 0.6
	for _, k := range ks {
		s := strings.TrimSpace(search[k])
		if len(s) < 4 || len(s) > 400 {
			continue
		}
		grams := bigrams(s)
		seen := map[string]int{}
		for i, id := range t.ids {
			l := strings.TrimSpace(t.tab.strs[id])
			if len(l)*10 < len(s)*6 || len(s)*10 < len(l)*6 {
				continue
			}
			common := 0
			clear(seen)
			for j := 0; j+2 <= len(l); j++ {
				g := l[j : j+2]
				if seen[g] < grams[g] {
					common++
				}
				seen[g]++
			}
			score := 2 * float64(common) / float64(len(s)-1+len(l)-1)
			if score > bestScore {
				best, bestScore = i-k, score
			}
		}
	}
	return best
}

func bigrams(s string) map[string]int {
	m := map[string]int{}
	for j := 0; j+2 <= len(s); j++ {
		m[s[j:j+2]]++
	}
	return m
}

// Author is who wrote the blocks a report is about: the wording of a report
// shown to a person depends on it ("line 3 of your message" or "of the
// model's reply").
type Author int

const (
	// ByModel: the blocks are a model's reply.
	ByModel Author = iota
	// ByUser: the blocks are the user's own message (a direct edit).
	ByUser
)

// Limits of the report as a person sees it: a phone's screenful, and always
// within one Telegram message.
const (
	htmlBlocks    = 3   // failed blocks shown; the rest are counted
	htmlLines     = 12  // lines of a quoted section
	htmlLineRunes = 160 // runes of a quoted line
)

// HTML renders the refusal for a Telegram message in HTML parse mode: bold
// headings, the lines quoted in <pre>, everything escaped, worded for the
// blocks' author. It stays within about limit characters (quoted sections
// are cut, then blocks left out and counted); the model gets Error()'s
// Markdown instead.
func (e *Error) HTML(a Author, limit int) string {
	w := wording(a)
	var b strings.Builder
	switch {
	case e.Malformed != "":
		fmt.Fprintf(&b, "%s could not be read as SEARCH/REPLACE blocks: %s.\n", w.Capital, esc(w.fix(e.Malformed)))
		b.WriteString(htmlReminder)
		return b.String()
	case e.NoBlocks:
		fmt.Fprintf(&b, "%s holds no SEARCH/REPLACE block.\n", w.Capital)
		for _, n := range e.NearMisses {
			fmt.Fprintf(&b, "• %s\n", esc(w.fix(n)))
		}
		b.WriteString(htmlReminder)
		return b.String()
	}
	total := len(e.Failures) + len(e.Applied)
	shown := 0
	for _, f := range e.Failures {
		if shown == htmlBlocks {
			break
		}
		var s strings.Builder
		path := e.Path // a change set's failures each name their own file
		if f.Path != "" {
			path = f.Path
		}
		fmt.Fprintf(&s, "<b>Block %d of %d</b> (line %d of %s): %s.\n", f.Block, total, f.ReplyLine, w.Of, esc(w.fix(f.Reason)))
		if len(f.search) > 0 {
			fmt.Fprintf(&s, "%s:\n%s\n", w.Search, preLines(f.search))
		}
		if f.near != nil {
			fmt.Fprintf(&s, "Did you mean these lines of %s (from line %d)?\n%s\n", esc(path), f.near.line, preLines(f.near.lines))
		}
		if f.replacePresent {
			fmt.Fprintf(&s, "The new lines are already in %s: is this change made already?\n", esc(path))
		}
		if f.dividers > 1 {
			fmt.Fprintf(&s, "This block has %d lines of = between its markers; none of its readings matched.\n", f.dividers)
		}
		if b.Len() > 0 && b.Len()+s.Len() > limit {
			break
		}
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString(s.String())
		shown++
	}
	if rest := len(e.Failures) - shown; rest > 0 {
		fmt.Fprintf(&b, "\n… and %s that did not apply.\n", plural(rest, "more block", "more blocks"))
	}
	if len(e.Applied) > 0 {
		fmt.Fprintf(&b, "The other %s matched, but nothing is saved unless every block applies.\n",
			plural(len(e.Applied), "block", "blocks"))
	}
	return strings.TrimRight(b.String(), "\n")
}

// Reasons says in one line per failed block why it did not apply, worded
// for the author (for plain-text records and logs without the file's lines).
func (e *Error) Reasons(a Author) []string {
	w := wording(a)
	switch {
	case e.Malformed != "":
		return []string{w.fix(e.Malformed)}
	case e.NoBlocks:
		return []string{strings.ToLower(w.Capital[:1]) + w.Capital[1:] + " holds no SEARCH/REPLACE block"}
	}
	var out []string
	for _, f := range e.Failures {
		out = append(out, fmt.Sprintf("block %d (line %d of %s): %s", f.Block, f.ReplyLine, w.Of, w.fix(f.Reason)))
	}
	return out
}

type words struct {
	Capital, Of, Search string
	r                   *strings.Replacer
}

func (w words) fix(s string) string { return w.r.Replace(s) }

func wording(a Author) words {
	if a == ByUser {
		return words{Capital: "Your message", Of: "your message", Search: "Your SEARCH text",
			r: strings.NewReplacer("of the reply", "of your message", "the reply", "your message")}
	}
	return words{Capital: "The model's reply", Of: "the model's reply", Search: "Its SEARCH text",
		r: strings.NewReplacer("of the reply", "of the model's reply", "the reply", "the model's reply")}
}

func esc(s string) string { return html.EscapeString(s) }

// preLines quotes lines in <pre>, escaped, cut to htmlLines lines of
// htmlLineRunes runes.
func preLines(lines []string) string {
	var b strings.Builder
	b.WriteString("<pre>")
	for i, l := range lines {
		if i == htmlLines {
			fmt.Fprintf(&b, "… (%d more lines)\n", len(lines)-i)
			break
		}
		if r := []rune(l); len(r) > htmlLineRunes {
			l = string(r[:htmlLineRunes]) + "…"
		}
		b.WriteString(esc(l) + "\n")
	}
	return strings.TrimRight(b.String(), "\n") + "</pre>"
}

var htmlReminder = "Write every change as a block like this:\n<pre>" + esc(`path/to/file
<<<<<<< SEARCH
lines copied exactly from the file
=======
the lines that replace them
>>>>>>> REPLACE`) + "</pre>"
