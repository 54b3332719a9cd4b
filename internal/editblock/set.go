package editblock

import (
	"fmt"
	"sort"
	"strings"

	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/storage"
	"github.com/devbot-hq/devbot/internal/textfile"
)

// Tree is the project a change set applies to. The consumer may read files
// lazily: only the files a reply touches are read (and, when a block names
// a file that does not exist, the others, to find the one it fits).
type Tree interface {
	Paths() []string                  // every file's path
	Read(path string) ([]byte, error) // one file's content
}

// MapTree is a Tree held in memory.
type MapTree map[string][]byte

func (m MapTree) Paths() []string {
	ps := make([]string, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	return ps
}

func (m MapTree) Read(p string) ([]byte, error) {
	c, ok := m[p]
	if !ok {
		return nil, fmt.Errorf("editblock: %s is not in the tree", p)
	}
	return c, nil
}

// Change kinds.
const (
	Modified = "modified"
	Created  = "created"
	Deleted  = "deleted"
	Renamed  = "renamed" // possibly with its content changed too
)

// FileChange is what a change set does to one file.
type FileChange struct {
	Op      string // Modified, Created, Deleted or Renamed
	Path    string // the path after the change (for Deleted, the path deleted)
	OldPath string // the path before it (Path but for Renamed; "" for Created)
	Old     []byte // nil for Created
	New     []byte // nil for Deleted
	Diff    string // this file's part of the change set's diff
}

// ChangeSet is a reply applied to a tree: nothing is written; the caller
// writes every change or none.
type ChangeSet struct {
	Files  []FileChange  // by Path
	Diff   string        // a git-style diff of every file (git apply accepts it)
	Blocks []BlockReport // one per block or directive, in the reply's order
}

// Strategies of directives.
const (
	StrategyDelete = "delete"
	StrategyRename = "rename"
)

// entry is a file of the tree as the reply has left it so far.
type entry struct {
	origin string // the tree path whose content this is; "" for a new file
	d      *doc   // nil until a block edits it (the content is the origin's)
}

// setState is the project as the reply's blocks change it, in order.
type setState struct {
	tree   Tree
	focus  *entry            // the file blocks naming none edit (ApplySetFocus); nil for none
	cur    map[string]*entry // path -> file, now
	orig   map[string][]byte // contents read from the tree
	docs   []*doc            // every doc made, for the reports
	sorted []string
}

func (s *setState) read(p string) ([]byte, error) {
	if c, ok := s.orig[p]; ok {
		return c, nil
	}
	c, err := s.tree.Read(p)
	if err != nil {
		return nil, fmt.Errorf("editblock: reading %s: %w", p, err)
	}
	s.orig[p] = c
	return c, nil
}

// paths returns the current paths, sorted.
func (s *setState) paths() []string {
	if s.sorted == nil {
		s.sorted = make([]string, 0, len(s.cur))
		for p := range s.cur {
			s.sorted = append(s.sorted, p)
		}
		sort.Strings(s.sorted)
	}
	return s.sorted
}

// docOf returns the doc of the file at p, reading it on first use.
func (s *setState) docOf(p string) (*doc, *Failure, error) {
	e := s.cur[p]
	if e.d != nil {
		e.d.path = p
		return e.d, nil, nil
	}
	var content []byte
	if e.origin != "" {
		c, err := s.read(e.origin)
		if err != nil {
			return nil, nil, err
		}
		if !textfile.Is(c) {
			return nil, &Failure{Path: p, Reason: fmt.Sprintf("%s is not a text file (%s): it cannot be edited with SEARCH/REPLACE blocks", p, textfile.Rule)}, nil
		}
		content = c
	}
	e.d = newDoc(p, content)
	s.docs = append(s.docs, e.d)
	return e.d, nil, nil
}

// focusPath is where the focus file is now: an earlier RENAME moves it;
// after a DELETE there is none.
func (s *setState) focusPath() string {
	if s.focus == nil {
		return ""
	}
	for p, e := range s.cur {
		if e == s.focus {
			return p
		}
	}
	return ""
}

func (s *setState) move(from, to string) {
	s.cur[to] = s.cur[from]
	delete(s.cur, from)
	s.sorted = nil
}

// ApplySet applies a reply whose blocks may edit, create, delete and rename
// several files of tree (see SetPrompt for the forms). Every block must
// apply, or nothing does: the error is then an *Error (permanent) whose
// text names each failed block and its file. An error that is not an
// *Error is the tree's.
func ApplySet(tree Tree, response string) (ChangeSet, error) {
	return ApplySetFocus(tree, response, "")
}

// ApplySetFocus is ApplySet where a block that names no file (and follows
// no block that does) edits focus, as Apply takes its file for them: a
// user who writes blocks for the file they are working on need not name
// it. A focus that is not a path of tree is no focus.
func ApplySetFocus(tree Tree, response, focus string) (ChangeSet, error) {
	s := &setState{tree: tree, cur: map[string]*entry{}, orig: map[string][]byte{}}
	for _, p := range tree.Paths() {
		s.cur[p] = &entry{origin: p}
	}
	if focus != "" {
		s.focus = s.cur[normName(focus)]
	}
	e := &Error{set: true}
	// Names are resolved as the blocks apply, since a block may name a
	// file an earlier one created or renamed; the scan only needs to know
	// that a name can be looked for.
	blocks, near, bad := scan(splitLines(response), func(above []string, _ bool, current string) (string, bool) {
		return "?", false
	}, true)
	switch {
	case bad != nil:
		e.Malformed = bad.String()
		if len(near) > 0 {
			e.Malformed += "\n" + strings.Join(near, "\n")
		}
	case len(blocks) == 0:
		e.NoBlocks, e.NearMisses = true, near
	}
	if bad != nil || len(blocks) == 0 {
		e.render()
		return ChangeSet{}, fault.AsPermanent(e)
	}
	var direct []BlockReport // the directives' reports
	current := ""
	for i := range blocks {
		b := &blocks[i]
		rep, fail, err := s.applyOne(b, &current)
		if err != nil {
			return ChangeSet{}, err
		}
		if fail != nil {
			fail.Block, fail.ReplyLine = b.n, b.line
			if fail.search == nil && b.op == "" && len(b.dividers) > 0 {
				fail.search, fail.replace = b.split(0)
			}
			e.Failures = append(e.Failures, *fail)
			continue
		}
		if rep != nil {
			direct = append(direct, *rep)
		}
	}
	reports := direct
	for _, d := range s.docs {
		d.finish()
		reports = append(reports, d.reps...)
	}
	sort.Slice(reports, func(i, j int) bool { return reports[i].Block < reports[j].Block })
	if len(e.Failures) > 0 {
		e.Applied = reports
		e.render()
		return ChangeSet{}, fault.AsPermanent(e)
	}
	cs := ChangeSet{Blocks: reports}
	if err := s.changes(&cs); err != nil {
		return ChangeSet{}, err
	}
	return cs, nil
}

// applyOne applies one block or directive. A directive that applied
// returns its report; a block's report is its doc's.
func (s *setState) applyOne(b *block, current *string) (*BlockReport, *Failure, error) {
	switch b.op {
	case opDelete:
		p, fail := s.existing(b.name, "delete")
		if fail != nil {
			return nil, fail, nil
		}
		delete(s.cur, p)
		s.sorted = nil
		*current = ""
		return &BlockReport{Block: b.n, ReplyLine: b.line, Path: p, Strategy: StrategyDelete}, nil, nil
	case opRename:
		p, fail := s.existing(b.name, "rename")
		if fail != nil {
			return nil, fail, nil
		}
		to, fail := newPath(b.to)
		if fail != nil {
			return nil, fail, nil
		}
		if _, taken := s.cur[to]; taken && to != p {
			return nil, &Failure{Path: p, Reason: fmt.Sprintf("%s cannot be renamed to %s: a file of that name exists (delete it first)", p, to)}, nil
		}
		if why := s.clash(to, p); why != "" {
			return nil, &Failure{Path: p, Reason: fmt.Sprintf("%s cannot be renamed to %s: %s", p, to, why)}, nil
		}
		s.move(p, to)
		*current = ""
		return &BlockReport{Block: b.n, ReplyLine: b.line, Path: to, Strategy: StrategyRename}, nil, nil
	}
	p, named := s.resolve(b, *current)
	if p == "" {
		p = s.focusPath()
	}
	if p == "" {
		return nil, &Failure{Reason: "this block names no file: put the file's path alone on the line before the opening fence"}, nil
	}
	*current = p
	b.name, b.other = p, false
	if _, ok := s.cur[p]; !ok {
		if b.create {
			np, fail := newPath(p)
			if fail != nil {
				return nil, fail, nil
			}
			if why := s.clash(np, ""); why != "" {
				return nil, &Failure{Path: np, Reason: fmt.Sprintf("%s cannot be created: %s", np, why)}, nil
			}
			p, *current = np, np
			s.cur[p] = &entry{}
			s.sorted = nil
		} else {
			return s.fallback(b, p, named)
		}
	}
	d, fail, err := s.docOf(p)
	if err != nil || fail != nil {
		return nil, fail, err
	}
	_, fail = d.apply(b)
	if fail != nil {
		fail.Path = p
	}
	return nil, fail, nil
}

// fallback applies a block whose file does not exist to the one file where
// its SEARCH text applies, as Aider tries the other files of the chat; but
// only when exactly one file takes it, so it never edits a guess.
func (s *setState) fallback(b *block, named string, explicit bool) (*BlockReport, *Failure, error) {
	var fits []string
	for _, p := range s.paths() {
		d, fail, err := s.docOf(p)
		if err != nil {
			return nil, nil, err
		}
		if fail != nil {
			continue
		}
		if _, f := d.clone().apply(b); f == nil {
			fits = append(fits, p)
			if len(fits) > 1 {
				break
			}
		}
	}
	what := named + " does not exist"
	if !explicit {
		what = fmt.Sprintf("this block names no existing file (it reads %q)", named)
	}
	switch len(fits) {
	case 1:
		d, _, _ := s.docOf(fits[0])
		_, fail := d.apply(b)
		if fail != nil {
			fail.Path = fits[0]
		}
		return nil, fail, nil
	case 0:
		return nil, &Failure{Path: named, Reason: what + ", and its SEARCH text is in no file of the project: name the file the block edits (an empty SEARCH creates a file)"}, nil
	}
	return nil, &Failure{Path: named, Reason: fmt.Sprintf("%s, and its SEARCH text is in several files (%s and %s at least): name the file the block edits", what, fits[0], fits[1])}, nil
}

// existing finds the file a directive names: the path as written, or the
// one file it designates strictly (a path suffix, the base name alone).
func (s *setState) existing(name, what string) (string, *Failure) {
	n := normName(name)
	if _, ok := s.cur[n]; ok {
		return n, nil
	}
	if p := s.unique(n, matchStrict); p != "" {
		return p, nil
	}
	return "", &Failure{Path: n, Reason: fmt.Sprintf("cannot %s %s: there is no such file", what, n)}
}

// unique returns the one current path that name designates at exactly
// level, or "" when none or several do.
func (s *setState) unique(name string, level int) string {
	found := ""
	for _, p := range s.paths() {
		if nameMatch(name, p) == level {
			if found != "" {
				return ""
			}
			found = p
		}
	}
	return found
}

// resolve finds a block's file as Aider does, from the candidates above it:
// a path of the project as written, else one it designates by a path
// suffix or its base name, else a close spelling, else a file named in a
// sentence, else a name that looks like a path (a new file, or one that
// does not exist), else the previous block's file. named reports that the
// block wrote the name itself. An empty SEARCH (a new file) takes only an
// exact path of the project, or the name as written: file2.txt next to
// file1.txt is another file.
func (s *setState) resolve(b *block, current string) (p string, named bool) {
	cands := nameCandidates(b.above)
	for i, c := range cands {
		cands[i] = normName(c)
	}
	for _, c := range cands {
		if _, ok := s.cur[c]; ok {
			return c, true
		}
	}
	if !b.create {
		for _, level := range []int{matchStrict, matchBase} {
			for _, c := range cands {
				if p := s.unique(c, level); p != "" {
					return p, true
				}
			}
		}
		if p := s.closest(cands); p != "" {
			return p, true
		}
		for _, c := range cands {
			for _, tok := range strings.Fields(c) {
				tok = normName(cleanToken(tok))
				if _, ok := s.cur[tok]; ok {
					return tok, true
				}
				if p := s.unique(tok, matchStrict); p != "" {
					return p, true
				}
			}
		}
	}
	for _, c := range cands {
		if isPathLike(c) || bareNames[c] {
			return c, true
		}
	}
	for _, c := range cands {
		for _, tok := range strings.Fields(c) {
			if tok = normName(cleanToken(tok)); isPathLike(tok) && hasSourceExt(tok) {
				return tok, true
			}
		}
	}
	return current, false
}

// bareNames are file names without a '.' or '/' that a line may hold
// alone: a bare word is otherwise not taken for a name ("Done:" is not a
// file to create).
var bareNames = map[string]bool{"Makefile": true, "makefile": true, "GNUmakefile": true, "Dockerfile": true,
	"Containerfile": true, "LICENSE": true, "LICENCE": true, "COPYING": true, "README": true, "NOTICE": true,
	"AUTHORS": true, "CHANGELOG": true, "CODEOWNERS": true, "Procfile": true, "Gemfile": true, "Rakefile": true,
	"Jenkinsfile": true, "Vagrantfile": true, "Brewfile": true, "Pipfile": true, "Justfile": true, "justfile": true,
	"BUILD": true, "WORKSPACE": true, "Caddyfile": true}

// closest returns the current path most like a candidate (a ratio of at
// least 0.8, as Aider's), when one path is the best.
func (s *setState) closest(cands []string) string {
	for _, c := range cands {
		if c == "" || strings.ContainsAny(c, " \t") {
			continue
		}
		best, score, tie := "", 0.8, false
		for _, p := range s.paths() {
			r := similarity(c, p)
			if !strings.Contains(c, "/") {
				r = max(r, similarity(c, baseName(p)))
			}
			switch {
			case r > score:
				best, score, tie = p, r, false
			case r == score && best != "":
				tie = true
			}
		}
		if best != "" && !tie {
			return best
		}
	}
	return ""
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// normName writes a name as a project path: '/' between folders, no
// leading "./".
func normName(n string) string {
	n = strings.ReplaceAll(strings.TrimSpace(n), `\`, "/")
	for strings.HasPrefix(n, "./") {
		n = n[2:]
	}
	return n
}

// clash says why a new file at p cannot sit beside the current ones (but
// self, a file being renamed): a file where p needs a folder, or files
// under p as a folder. "" when none.
func (s *setState) clash(p, self string) string {
	for _, q := range s.paths() {
		switch {
		case q == self:
		case strings.HasPrefix(p, q+"/"):
			return fmt.Sprintf("%s is a file, not a folder", q)
		case strings.HasPrefix(q, p+"/"):
			return fmt.Sprintf("it is a folder (of %s)", q)
		}
	}
	return ""
}

// newPath checks a path a reply creates, as uploads are checked.
func newPath(p string) (string, *Failure) {
	p = normName(p)
	if err := storage.ValidatePath(p); err != nil {
		return "", &Failure{Path: p, Reason: fmt.Sprintf("%q cannot be a file of the project: %v", p, err)}
	}
	return p, nil
}
