package projectmap

import (
	"context"
	"fmt"
	"strings"

	"github.com/devbot-hq/devbot/internal/db"
)

// MaxIndexedBytes bounds the part of a file whose words are indexed: a
// PostgreSQL tsvector must stay under 1 MB, and what a file is about shows in
// its first 128 KiB.
const MaxIndexedBytes = 128 << 10

// Document builds a file's search document (without its project and
// version): the path's words, the symbol names and the text, each split into
// search words, and the rendered outline.
func Document(p string, content []byte) db.SearchDoc {
	d := db.SearchDoc{Path: p, PathTerms: strings.Join(Terms(p), " ")}
	if !isText(content) {
		return d
	}
	syms := Outline(p, content)
	d.Outline = cleanText(RenderOutline(syms))
	names := make([]string, 0, len(syms))
	for _, s := range syms {
		names = append(names, s.Name)
	}
	d.SymbolTerms = strings.Join(Terms(strings.Join(names, " ")), " ")
	text := content
	if len(text) > MaxIndexedBytes {
		cut := MaxIndexedBytes
		for cut > 0 && text[cut]&0xC0 == 0x80 { // not mid-character
			cut--
		}
		text = text[:cut]
	}
	d.TextTerms = strings.Join(Terms(string(text)), " ")
	return d
}

// IndexFile stores the search document of a file's version. Call it in the
// transaction that makes the version current (an upload, a refinement, an
// undo or redo, each file of a change set, the new path of a rename), so
// search always sees the current text.
func IndexFile(ctx context.Context, q db.Querier, projectID, path string, version int, content []byte) error {
	d := Document(path, content)
	d.ProjectID, d.Version = projectID, version
	return db.UpsertSearchDoc(ctx, q, d)
}

// RemoveFile drops a file's search document (a deletion, the old path of a
// rename). Deleting the file's row does it too, by cascade.
func RemoveFile(ctx context.Context, q db.Querier, projectID, path string) error {
	return db.DeleteSearchDoc(ctx, q, projectID, path)
}

// Index is one project's search index in PostgreSQL; it is a Searcher.
type Index struct {
	Q         db.Querier
	ProjectID string
}

// Search ranks the project's files against terms.
func (ix Index) Search(ctx context.Context, terms []string, limit int) ([]Hit, error) {
	hs, err := db.SearchFiles(ctx, ix.Q, ix.ProjectID, terms, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Hit, len(hs))
	for i, h := range hs {
		out[i] = Hit{Path: h.Path, Rank: h.Rank}
	}
	return out, nil
}

// Outlines returns the stored outlines of the project's files, by path.
func (ix Index) Outlines(ctx context.Context) (map[string]string, error) {
	return db.FileOutlines(ctx, ix.Q, ix.ProjectID)
}

// Refresh indexes the project's files whose document is missing or stale
// (db.StaleSearchDocs), reading each from r, and returns how many it
// indexed. Call it before building a context: when every write path indexes
// its files it costs one query; it also fills the index for files written
// before it existed and after an undo, which moves a file's version without
// writing content.
func Refresh(ctx context.Context, q db.Querier, projectID string, r Reader) (int, error) {
	stale, err := db.StaleSearchDocs(ctx, q, projectID)
	if err != nil {
		return 0, err
	}
	for _, f := range stale {
		b, err := r.ReadFile(ctx, f.Path)
		if err != nil {
			return 0, fmt.Errorf("project index: reading %q: %w", f.Path, err)
		}
		if err := IndexFile(ctx, q, projectID, f.Path, f.Version, b); err != nil {
			return 0, err
		}
	}
	return len(stale), nil
}

// cleanText makes s storable and sendable: PostgreSQL's text takes neither
// invalid UTF-8 nor NUL bytes (a document that cannot be stored would fail
// the write it belongs to), and a prompt is JSON.
func cleanText(s string) string {
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
}
