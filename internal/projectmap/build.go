package projectmap

import (
	"cmp"
	"context"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/devbot-hq/devbot/internal/fault"
)

// FileInfo is a project file as the map lists it.
type FileInfo struct {
	Path string
	Size int64
}

// Reader reads a project file's current bytes by path. internal/storage's
// backends provide it through a small adapter (ReaderFunc); tests use
// MapReader.
type Reader interface {
	ReadFile(ctx context.Context, path string) ([]byte, error)
}

// ReaderFunc adapts a function to Reader.
type ReaderFunc func(ctx context.Context, path string) ([]byte, error)

// ReadFile calls f.
func (f ReaderFunc) ReadFile(ctx context.Context, path string) ([]byte, error) { return f(ctx, path) }

// MapReader is a Reader over an in-memory project.
type MapReader map[string][]byte

// ReadFile returns the file's bytes or an error naming the missing path.
func (m MapReader) ReadFile(_ context.Context, p string) ([]byte, error) {
	b, ok := m[p]
	if !ok {
		return nil, fmt.Errorf("read %q: no such file", p)
	}
	return b, nil
}

// Hit is a file a search found relevant, with its rank (higher is better).
type Hit struct {
	Path string
	Rank float64
}

// Searcher finds a project's files relevant to a set of search words. Index
// is the PostgreSQL implementation.
type Searcher interface {
	Search(ctx context.Context, terms []string, limit int) ([]Hit, error)
}

// Defaults of Options.
const (
	DefaultTokenBudget = 16000
	// MinTokenBudget is the least budget Build works with: room for the
	// map's header and summary and a few lines. A smaller one is raised.
	MinTokenBudget     = 256
	DefaultMaxRelevant = 8
	// mapOutlineLines bounds one file's outline in the map.
	mapOutlineLines = 40
	// maxQueryTerms bounds the search words taken from an instruction.
	maxQueryTerms = 64
)

// Options tune the context. The zero value takes the defaults.
type Options struct {
	// TokenBudget bounds the whole rendered context (EstimateTokens of
	// Render); 0 means DefaultTokenBudget, and less than MinTokenBudget is
	// raised to it. Configuration: PROJECT_CONTEXT_TOKENS.
	TokenBudget int
	// MaxRelevant bounds the files the search may add in full.
	MaxRelevant int
}

func (o Options) withDefaults() Options {
	if o.TokenBudget <= 0 {
		o.TokenBudget = DefaultTokenBudget
	}
	o.TokenBudget = max(o.TokenBudget, MinTokenBudget)
	if o.MaxRelevant <= 0 {
		o.MaxRelevant = DefaultMaxRelevant
	}
	return o
}

// Request is what one context is built from.
type Request struct {
	// Files is every file of the project (db.ListFiles).
	Files []FileInfo
	// Instruction is the user's request; the files it names are included in
	// full and its words are the search query.
	Instruction string
	// Focus is the file a "/refine PATH" names, if any: first of the named.
	Focus string
	// Pinned are the files the user added with /add.
	Pinned []string
	// Outlines are rendered outlines by path (db.FileOutlines, or
	// ComputeOutlines for a tree without an index). A file without one is
	// listed with its size only.
	Outlines map[string]string
}

// Reason says why a file's text is in the context.
type Reason string

// Reasons, in priority order.
const (
	ReasonNamed    Reason = "named"
	ReasonPinned   Reason = "pinned"
	ReasonRelevant Reason = "relevant"
)

// File is a file included in full.
type File struct {
	Path    string
	Reason  Reason
	Rank    float64 // for ReasonRelevant
	Content []byte
	Tokens  int // of its rendered block
}

// Omitted is a file that was asked for (named, pinned or found relevant) but
// is not in the context, and why.
type Omitted struct {
	Path   string
	Reason Reason
	Size   int64
	Why    string // "too large for the context", "binary", "not in the project"
}

// MapEntry is one listed path of the map.
type MapEntry struct {
	Path    string
	Size    int64
	InFull  bool   // its text is in the context
	Outline string // empty when it has none or it was left out for the budget
}

// LeftOut summarizes what the map does not show.
type LeftOut struct {
	Files    int   // files not listed
	Dirs     int   // directories those files are in
	Bytes    int64 // their total size
	Outlines int   // listed files whose outline was left out
}

// Context is the project context for one model call.
type Context struct {
	Budget     int
	Tokens     int // estimate of Render's output; never above Budget
	Files      []File
	Omitted    []Omitted
	Map        []MapEntry // by path
	Left       LeftOut
	TotalFiles int
	TotalBytes int64
}

// Builder builds contexts. Search may be nil (no relevance search).
type Builder struct {
	Reader  Reader
	Search  Searcher
	Options Options
}

// Build assembles the context for req within the token budget. A read or
// search error is returned wrapped (its fault class kept): without the files
// it names, the model would edit blind.
func (b *Builder) Build(ctx context.Context, req Request) (*Context, error) {
	opts := b.Options.withDefaults()
	byPath := make(map[string]FileInfo, len(req.Files))
	c := &Context{Budget: opts.TokenBudget, TotalFiles: len(req.Files)}
	for _, f := range req.Files {
		byPath[f.Path] = f
		c.TotalBytes += f.Size
	}
	// The map's header and its summary line are reserved first, so the map
	// can always say what it left out.
	reserve := EstimateString(mapHeader(c)) + EstimateString(worstSummary)
	used := 0
	fits := func(n int) bool { return used+n+reserve <= opts.TokenBudget }
	taken := make(map[string]bool)
	headerDone := false

	consider := func(p string, reason Reason, rank float64) error {
		if taken[p] {
			return nil
		}
		taken[p] = true
		info, ok := byPath[p]
		if !ok {
			return c.omit(Omitted{Path: p, Reason: reason, Why: "not in the project"}, fits, &used)
		}
		header := 0
		if !headerDone {
			header = EstimateString(filesHeader)
		}
		// A size-based lower bound saves reading a file that cannot fit.
		if !fits(header + int((info.Size+3)/4)) {
			return c.omit(Omitted{Path: p, Reason: reason, Size: info.Size, Why: "too large for the context"}, fits, &used)
		}
		content, err := b.Reader.ReadFile(ctx, p)
		if err != nil {
			return fmt.Errorf("project context: reading %q: %w", p, err)
		}
		if !isText(content) || !utf8.Valid(content) {
			return c.omit(Omitted{Path: p, Reason: reason, Size: info.Size, Why: "binary"}, fits, &used)
		}
		f := File{Path: p, Reason: reason, Rank: rank, Content: content}
		f.Tokens = EstimateString(renderFile(f))
		if !fits(header + f.Tokens) {
			return c.omit(Omitted{Path: p, Reason: reason, Size: info.Size, Why: "too large for the context"}, fits, &used)
		}
		used += header + f.Tokens
		headerDone = true
		c.Files = append(c.Files, f)
		return nil
	}

	named := Mentioned(req.Instruction, req.Files)
	if req.Focus != "" {
		named = append([]string{req.Focus}, named...)
	}
	for _, p := range named {
		if err := consider(p, ReasonNamed, 0); err != nil {
			return nil, err
		}
	}
	for _, p := range req.Pinned {
		if err := consider(p, ReasonPinned, 0); err != nil {
			return nil, err
		}
	}
	var hits []Hit
	if b.Search != nil {
		terms := QueryTerms(req.Instruction)
		if len(terms) > maxQueryTerms {
			terms = terms[:maxQueryTerms]
		}
		var err error
		hits, err = b.Search.Search(ctx, terms, opts.MaxRelevant+len(taken))
		if err != nil {
			return nil, fmt.Errorf("project context: search: %w", err)
		}
		n := 0
		for _, h := range hits {
			// A hit the file list lacks is a document not yet removed (a
			// deletion racing this build): not worth the model's attention.
			if _, ok := byPath[h.Path]; !ok || taken[h.Path] || n == opts.MaxRelevant {
				continue
			}
			n++
			if err := consider(h.Path, ReasonRelevant, h.Rank); err != nil {
				return nil, err
			}
		}
	}
	used += c.buildMap(req, hits, opts.TokenBudget-used-EstimateString(worstSummary))
	c.Tokens = EstimateString(c.Render())
	if c.Tokens > opts.TokenBudget {
		// The parts' estimates bound the whole's (EstimateTokens is
		// additive), so this cannot happen; if it does, it is a bug here.
		return nil, fault.AsPermanent(fmt.Errorf("project context: %d tokens over a budget of %d (estimated parts %d)",
			c.Tokens, opts.TokenBudget, used))
	}
	return c, nil
}

// omit records an omitted file if its line fits; a budget too small for
// even that drops the line (the file still counts in the map's summary).
func (c *Context) omit(o Omitted, fits func(int) bool, used *int) error {
	n := EstimateString(renderOmitted(o))
	if len(c.Omitted) == 0 {
		n += EstimateString(omittedHeader)
	}
	if fits(n) {
		*used += n
		c.Omitted = append(c.Omitted, o)
	}
	return nil
}

// buildMap lists paths and outlines within avail tokens (the summary line
// is reserved by the caller) and returns the tokens used. In priority order
// (files in full, then search hits, then files beside those, then the rest,
// shallow paths first) it lists paths up to half the room, then adds
// outlines in the same order while they fit, then lists more paths with
// what is left: the model learns what exists before it learns the details.
func (c *Context) buildMap(req Request, hits []Hit, avail int) int {
	inFull := make(map[string]bool, len(c.Files))
	dirs := make(map[string]bool)
	for _, f := range c.Files {
		inFull[f.Path] = true
		dirs[path.Dir(f.Path)] = true
	}
	prio := make(map[string]int, len(req.Files))
	for i, h := range hits {
		prio[h.Path] = -len(hits) + i
	}
	// Sort keys are computed once per file, not per comparison.
	type keyed struct {
		FileInfo
		class, prio, depth int
	}
	keys := make([]keyed, len(req.Files))
	for i, f := range req.Files {
		k := keyed{FileInfo: f, class: 3, prio: prio[f.Path], depth: strings.Count(f.Path, "/")}
		switch {
		case inFull[f.Path]:
			k.class = 0
		case k.prio < 0:
			k.class = 1
		case dirs[path.Dir(f.Path)]:
			k.class = 2
		}
		keys[i] = k
	}
	slices.SortFunc(keys, func(a, b keyed) int {
		return cmp.Or(cmp.Compare(a.class, b.class), cmp.Compare(a.prio, b.prio),
			cmp.Compare(a.depth, b.depth), strings.Compare(a.Path, b.Path))
	})
	order := make([]FileInfo, len(keys))
	for i, k := range keys {
		order[i] = k.FileInfo
	}

	used := EstimateString(mapHeader(c))
	listed := make([]bool, len(order))
	entries := make([]MapEntry, len(order))
	listPaths := func(limit int) {
		for i, f := range order {
			if listed[i] {
				continue
			}
			e := MapEntry{Path: f.Path, Size: f.Size, InFull: inFull[f.Path]}
			n := EstimateString(renderEntry(e))
			if used+n > limit {
				return
			}
			used += n
			listed[i], entries[i] = true, e
		}
	}
	listPaths(avail / 2)
	for i, f := range order {
		if !listed[i] || inFull[f.Path] {
			continue
		}
		o := trimOutline(req.Outlines[f.Path])
		if o == "" {
			continue
		}
		n := EstimateString(renderOutlineLines(o))
		if used+n <= avail {
			used += n
			entries[i].Outline = o
		}
	}
	listPaths(avail)

	leftDirs := make(map[string]bool)
	for i, f := range order {
		if listed[i] {
			c.Map = append(c.Map, entries[i])
			if !inFull[f.Path] && entries[i].Outline == "" && req.Outlines[f.Path] != "" {
				c.Left.Outlines++
			}
			continue
		}
		c.Left.Files++
		c.Left.Bytes += f.Size
		leftDirs[path.Dir(f.Path)] = true
	}
	c.Left.Dirs = len(leftDirs)
	sort.Slice(c.Map, func(i, j int) bool { return c.Map[i].Path < c.Map[j].Path })
	return used + EstimateString(c.summary())
}

// trimOutline bounds an outline to mapOutlineLines lines.
func trimOutline(o string) string {
	o = strings.TrimRight(o, "\n")
	if o == "" {
		return ""
	}
	lines := strings.Split(o, "\n")
	if len(lines) <= mapOutlineLines {
		return o
	}
	return strings.Join(lines[:mapOutlineLines], "\n") + "\n… " + formatInt(int64(len(lines)-mapOutlineLines)) + " more"
}

// ComputeOutlines reads every file of files and renders its outline: for a
// tree without an index (devbot edit --dir, tests). Files too large to be
// worth it (over maxBytes) are skipped.
func ComputeOutlines(ctx context.Context, r Reader, files []FileInfo, maxBytes int64) (map[string]string, error) {
	out := make(map[string]string)
	for _, f := range files {
		if f.Size > maxBytes || !HasOutline(f.Path) {
			continue
		}
		b, err := r.ReadFile(ctx, f.Path)
		if err != nil {
			return nil, fmt.Errorf("project outlines: reading %q: %w", f.Path, err)
		}
		if o := cleanText(RenderOutline(Outline(f.Path, b))); o != "" {
			out[f.Path] = o
		}
	}
	return out, nil
}

// HasOutline reports whether files like p get an outline.
func HasOutline(p string) bool {
	ext := strings.ToLower(path.Ext(p))
	return ext == ".go" || specFor(ext) != nil
}
