package editblock

import (
	"fmt"
	"sort"
	"strings"
)

// changes lists what the reply did to each file, with the diffs.
func (s *setState) changes(cs *ChangeSet) error {
	at := map[string]string{} // origin -> current path
	for p, e := range s.cur {
		if e.origin != "" {
			at[e.origin] = p
		}
	}
	var out []FileChange
	for _, origin := range s.tree.Paths() {
		p, kept := at[origin]
		e := s.cur[p]
		switch {
		case !kept:
			old, err := s.read(origin)
			if err != nil {
				return err
			}
			if ne, ok := s.cur[origin]; ok && ne.origin == "" {
				// Deleted, then created again: one file, modified.
				content := ne.d.bytes()
				if string(content) != string(old) {
					out = append(out, FileChange{Op: Modified, Path: origin, OldPath: origin, Old: old, New: content})
				}
				continue
			}
			out = append(out, FileChange{Op: Deleted, Path: origin, OldPath: origin, Old: old})
		case p != origin || e.d != nil:
			old, err := s.read(origin)
			if err != nil {
				return err
			}
			content := old
			if e.d != nil {
				content = e.d.bytes()
			}
			switch {
			case p != origin:
				out = append(out, FileChange{Op: Renamed, Path: p, OldPath: origin, Old: old, New: content})
			case string(content) != string(old):
				fc := FileChange{Op: Modified, Path: p, OldPath: origin, Old: old, New: content}
				if e.d.fast {
					// The fast path's diff looks only around its spans.
					fc.Diff = gitHeader(fc) + e.d.diff(content)
				}
				out = append(out, fc)
			}
		}
	}
	inTree := map[string]bool{}
	for _, o := range s.tree.Paths() {
		inTree[o] = true
	}
	for p, e := range s.cur {
		if _, moved := at[p]; e.origin == "" && (!inTree[p] || moved) {
			// (A tree path neither kept nor moved was deleted and created
			// again: reported above as modified.)
			out = append(out, FileChange{Op: Created, Path: p, New: e.d.bytes()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	for i := range out {
		if out[i].Diff == "" {
			out[i].Diff = gitDiff(out[i])
		}
	}
	cs.Files, cs.Diff = out, GitDiff(out)
	return nil
}

// GitDiff is the git-style diff of changes, in their order (ApplySet's
// Files are by path), as ApplySet writes ChangeSet.Diff: a change set read
// back from storage, or built by hand, is shown as it was when applied. A
// change whose Diff is set keeps it; the others are diffed from Old to New.
//
// A recomputed part is the same text ApplySet wrote, but for an edit made
// on the fast path (an LF file whose blocks matched exactly): its diff
// aligns the lines around each block alone, and where the lines nearby
// repeat (blank lines, braces) the whole-file diff may pair them another
// way. Both describe the same change and git apply takes either; keep
// FileChange.Diff to show the very text.
func GitDiff(changes []FileChange) string {
	var b strings.Builder
	for _, fc := range changes {
		if fc.Diff != "" {
			b.WriteString(fc.Diff)
		} else {
			b.WriteString(gitDiff(fc))
		}
	}
	return b.String()
}

// gitHeader is the "diff --git" header of a change.
func gitHeader(fc FileChange) string {
	switch fc.Op {
	case Created:
		return fmt.Sprintf("diff --git a/%s b/%s\nnew file mode 100644\n", fc.Path, fc.Path)
	case Deleted:
		return fmt.Sprintf("diff --git a/%s b/%s\ndeleted file mode 100644\n", fc.Path, fc.Path)
	case Renamed:
		return fmt.Sprintf("diff --git a/%s b/%s\nrename from %s\nrename to %s\n", fc.OldPath, fc.Path, fc.OldPath, fc.Path)
	}
	return fmt.Sprintf("diff --git a/%s b/%s\n", fc.Path, fc.Path)
}

// gitDiff is one file's part of a change set's diff, as git writes it.
func gitDiff(fc FileChange) string {
	h := gitHeader(fc)
	hunks := stripHeader(Diff(fc.Path, fc.Old, fc.New))
	if hunks == "" {
		return h
	}
	from, to := "a/"+fc.OldPath, "b/"+fc.Path
	switch fc.Op {
	case Created:
		from = "/dev/null"
	case Deleted:
		to = "/dev/null"
	}
	return h + "--- " + from + "\n+++ " + to + "\n" + hunks
}

// stripHeader drops the ---/+++ lines of a Diff.
func stripHeader(d string) string {
	for range 2 {
		if i := strings.IndexByte(d, '\n'); i >= 0 {
			d = d[i+1:]
		} else {
			return ""
		}
	}
	return d
}
