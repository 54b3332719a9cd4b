package editblock

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/devbot-hq/devbot/internal/fault"
)

type hunk struct {
	n        int
	line     int // line of the header in the instruction
	oldStart int
	old, new []string
	oldNoEOL bool // the old side's last line has no line ending
	newNoEOL bool
	header   string
}

// parseUnified reads the hunks of a unified diff, checking that the file
// names (if any) designate path.
func parseUnified(path, diff string) ([]hunk, error) {
	lines := splitLines(diff)
	var hunks []hunk
	refuse := func(line int, format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		if line > 0 {
			msg = fmt.Sprintf("line %d of the diff: %s", line, msg)
		}
		e := &Error{Path: path, Malformed: msg}
		e.render()
		return fault.AsPermanent(e)
	}
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "--- ") || strings.HasPrefix(l, "+++ ") {
			name := strings.Fields(l[4:])
			if len(name) > 0 && name[0] != "/dev/null" {
				n := name[0]
				if strings.HasPrefix(n, "a/") || strings.HasPrefix(n, "b/") {
					n = n[2:]
				}
				if !namesTarget(n, path) && !namesTarget(name[0], path) {
					return nil, refuse(i+1, "this diff edits %s, but the file being edited is %s", name[0], path)
				}
			}
			continue
		}
		m := hunkHeader.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		h := hunk{n: len(hunks) + 1, line: i + 1, header: l}
		oldCount, newCount := headerCounts(l)
		h.oldStart = headerStart(l)
		for i++; i < len(lines); i++ {
			l := lines[i]
			if len(h.old) >= oldCount && len(h.new) >= newCount && !strings.HasPrefix(l, `\`) {
				break
			}
			switch {
			case l == "" || l[0] == ' ':
				if l != "" {
					l = l[1:]
				}
				h.old, h.new = append(h.old, l), append(h.new, l)
			case l[0] == '-':
				h.old = append(h.old, l[1:])
			case l[0] == '+':
				h.new = append(h.new, l[1:])
			case l[0] == '\\':
				// Applies to the line before it.
				prev := byte(' ')
				if lines[i-1] != "" {
					prev = lines[i-1][0]
				}
				switch prev {
				case '-':
					h.oldNoEOL = true
				case '+':
					h.newNoEOL = true
				default:
					h.oldNoEOL, h.newNoEOL = true, true
				}
			default:
				return nil, refuse(i+1, "hunk %d ends early: it announces %d old and %d new lines (%s)", h.n, oldCount, newCount, h.header)
			}
		}
		if len(h.old) != oldCount || len(h.new) != newCount {
			return nil, refuse(h.line, "hunk %d announces %d old and %d new lines but has %d and %d", h.n, oldCount, newCount, len(h.old), len(h.new))
		}
		hunks = append(hunks, h)
		i--
	}
	if len(hunks) == 0 {
		return nil, refuse(0, "the diff has no hunk (@@ -l,n +l,n @@)")
	}
	return hunks, nil
}

func headerCounts(h string) (oldN, newN int) {
	f := strings.Fields(h)
	count := func(s string) int {
		_, c, ok := strings.Cut(s[1:], ",")
		if !ok {
			return 1
		}
		n, _ := strconv.Atoi(c)
		return n
	}
	return count(f[1]), count(f[2])
}

func headerStart(h string) int {
	f := strings.Fields(h)
	s, _, _ := strings.Cut(f[1][1:], ",")
	n, _ := strconv.Atoi(s)
	return n
}

// applyUnified applies the hunks in order. Each hunk's old lines must
// match exactly: at the line it states (shifted by the hunks before), or
// else at exactly one other place after the previous hunk.
func applyUnified(path string, content []byte, diff string) (Result, error) {
	hunks, err := parseUnified(path, diff)
	if err != nil {
		return Result{}, err
	}
	t := newText(content, newTable(1024))
	e := &Error{Path: path, orig: content}
	shift, floor := 0, 0
	var reports []BlockReport
	for _, h := range hunks {
		rep := BlockReport{Block: h.n, ReplyLine: h.line, Path: path, Strategy: StrategyHunk, Lines: len(h.old)}
		want := h.oldStart - 1 + shift
		if len(h.old) == 0 {
			want = h.oldStart + shift // an insertion names the line before it
		}
		pos := -1
		if want >= floor && want+len(h.old) <= len(t.ids) && t.matchAt(want, h.old) {
			pos = want
		} else if len(h.old) > 0 {
			var hits []int
			kmp(t.ids[floor:], t.intern(h.old), func(p int) bool {
				hits = append(hits, p+floor)
				return len(hits) < 2
			})
			if len(hits) == 1 {
				pos, rep.Strategy = hits[0], StrategyHunkOffset
			} else if len(hits) == 2 {
				e.Failures = append(e.Failures, Failure{Block: h.n, ReplyLine: h.line, search: h.old, replace: h.new,
					Reason: fmt.Sprintf("hunk %d (%s) does not match at its line, and its lines occur more than once (lines %d and %d)", h.n, h.header, hits[0]+1, hits[1]+1)})
				continue
			}
		}
		if pos < 0 {
			e.Failures = append(e.Failures, Failure{Block: h.n, ReplyLine: h.line, search: h.old, replace: h.new,
				near: t.nearest(h.old), Reason: fmt.Sprintf("hunk %d (%s): its context and removed lines are not in %s", h.n, h.header, path)})
			continue
		}
		rep.Line = pos + 1
		t.replace(pos, len(h.old), h.new)
		shift += len(h.new) - len(h.old)
		floor = pos + len(h.new)
		if floor == len(t.ids) {
			if h.newNoEOL {
				t.finalNL = false
			} else if h.oldNoEOL {
				t.finalNL = true
			}
		}
		reports = append(reports, rep)
	}
	if len(e.Failures) > 0 {
		e.Applied, e.state = reports, slowDoc(path, content, t)
		e.render()
		return Result{}, fault.AsPermanent(e)
	}
	out := t.bytes()
	return Result{Content: out, Diff: Diff(path, content, out), Blocks: reports}, nil
}

func (t *text) matchAt(pos int, lines []string) bool {
	for k, l := range lines {
		if t.line(pos+k) != l {
			return false
		}
	}
	return true
}
