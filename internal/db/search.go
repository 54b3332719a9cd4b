package db

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// SearchDoc is a file's search document. The three term strings are
// space-separated words already split into identifiers by the caller
// (projectmap); PostgreSQL's english configuration stems them and drops stop
// words.
type SearchDoc struct {
	ProjectID   string
	Path        string
	Version     int
	PathTerms   string // weight A
	SymbolTerms string // weight B
	TextTerms   string // weight D
	Outline     string // rendered outline of top-level symbols
}

// SearchHit is a file that matches a search, with its rank (higher is more
// relevant; comparable only within one search).
type SearchHit struct {
	Path string
	Rank float64
}

// UpsertSearchDoc replaces a file's search document. Call it in the
// transaction that makes a version of the file current, so the document
// always describes the current version; the file row must exist.
func UpsertSearchDoc(ctx context.Context, q Querier, d SearchDoc) error {
	_, err := q.Exec(ctx, `INSERT INTO file_search_docs (project_id, path, version, outline, doc)
		VALUES ($1, $2, $3, $4,
			setweight(to_tsvector('english', $5), 'A') ||
			setweight(to_tsvector('english', $6), 'B') ||
			setweight(to_tsvector('english', $7), 'D'))
		ON CONFLICT (project_id, path) DO UPDATE SET version = EXCLUDED.version,
			outline = EXCLUDED.outline, doc = EXCLUDED.doc, updated_at = now()`,
		d.ProjectID, d.Path, d.Version, d.Outline, d.PathTerms, d.SymbolTerms, d.TextTerms)
	if err != nil {
		return fmt.Errorf("UpsertSearchDoc(%s, %q): %w", d.ProjectID, d.Path, translate(err))
	}
	return nil
}

// DeleteSearchDoc removes a file's search document (deleting the file row
// removes it too, by cascade). Removing a missing document is not an error.
func DeleteSearchDoc(ctx context.Context, q Querier, projectID, path string) error {
	if _, err := q.Exec(ctx, `DELETE FROM file_search_docs WHERE project_id = $1 AND path = $2`, projectID, path); err != nil {
		return fmt.Errorf("DeleteSearchDoc(%s, %q): %w", projectID, path, translate(err))
	}
	return nil
}

// searchSQL ranks a project's documents against a set of terms (an OR of
// them), in the shape of BM25 with PostgreSQL's own pieces. ts_rank_cd alone
// has no notion of how rare a term is, so a word in every file ("add",
// "test") would weigh as much as the one that singles a file out ("health"),
// and it grows without bound with repetitions, so fifty "add"s would beat
// one "health". Each term's cover-density rank r (weights D 0.1, C 0.2,
// B 0.4, A 1.0: text, -, symbols, path) is therefore saturated, r/(r+0.3)
// (one mention in the text gives 0.25, a match in the path 0.77), and
// multiplied by BM25's inverse document frequency, ln(1 + (N - df + 0.5) /
// (df + 0.5)), computed over the project's documents in the same query: a
// word in every file counts for almost nothing, a word in one file of 200
// for about 5.
const searchSQL = `
WITH terms AS (
    SELECT DISTINCT q FROM (
        SELECT websearch_to_tsquery('english', t) AS q FROM unnest($2::text[]) AS t) s
    WHERE numnode(q) > 0
), matches AS MATERIALIZED (
    -- one pass over the project's matching documents, each rank computed once
    SELECT t.q, d.path, ts_rank_cd('{0.1, 0.2, 0.4, 1.0}', d.doc, t.q, 0) AS r
    FROM terms t
    JOIN file_search_docs d ON d.project_id = $1 AND d.doc @@ t.q
), total AS (
    SELECT count(*)::float8 AS n FROM file_search_docs WHERE project_id = $1
), idf AS (
    SELECT m.q, ln(1 + (total.n - count(*) + 0.5) / (count(*) + 0.5)) AS w
    FROM matches m CROSS JOIN total
    GROUP BY m.q, total.n
)
SELECT m.path, sum(idf.w * m.r / (m.r + 0.3)) AS rank
FROM matches m JOIN idf ON idf.q = m.q
GROUP BY m.path
ORDER BY rank DESC, m.path
LIMIT $3`

// SearchFiles returns up to limit files of the project that match any of
// terms, most relevant first. Terms are single words (the caller splits
// identifiers); stop words and empty terms are ignored, and no usable term
// means no hits.
func SearchFiles(ctx context.Context, q Querier, projectID string, terms []string, limit int) ([]SearchHit, error) {
	if len(terms) == 0 || limit <= 0 {
		return nil, nil
	}
	rows, err := q.Query(ctx, searchSQL, projectID, terms, limit)
	if err != nil {
		return nil, fmt.Errorf("SearchFiles(%s): %w", projectID, translate(err))
	}
	hits, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SearchHit, error) {
		var h SearchHit
		err := r.Scan(&h.Path, &h.Rank)
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("SearchFiles(%s): %w", projectID, translate(err))
	}
	return hits, nil
}

// FileOutlines returns the stored outline of every indexed file of the
// project, by path, so a project map needs no read of the files themselves.
// Files without a document are absent from the map.
func FileOutlines(ctx context.Context, q Querier, projectID string) (map[string]string, error) {
	rows, err := q.Query(ctx, `SELECT path, outline FROM file_search_docs WHERE project_id = $1`, projectID)
	if err != nil {
		return nil, fmt.Errorf("FileOutlines(%s): %w", projectID, translate(err))
	}
	out := make(map[string]string)
	var path, outline string
	_, err = pgx.ForEachRow(rows, []any{&path, &outline}, func() error {
		out[path] = outline
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("FileOutlines(%s): %w", projectID, translate(err))
	}
	return out, nil
}

// StaleSearchDocs lists the project's files whose search document is
// missing or describes another version than the current one: files written
// before the index existed, or by a path that did not index them (an undo
// moves the current version without new content). projectmap.Refresh
// indexes them.
func StaleSearchDocs(ctx context.Context, q Querier, projectID string) ([]File, error) {
	rows, err := q.Query(ctx, `SELECT `+qualifiedFileColumns+` FROM project_files f
		LEFT JOIN file_search_docs d ON d.project_id = f.project_id AND d.path = f.path
		WHERE f.project_id = $1 AND NOT f.deleted AND (d.path IS NULL OR d.version <> f.version)
		ORDER BY f.path`, projectID)
	if err != nil {
		return nil, fmt.Errorf("StaleSearchDocs(%s): %w", projectID, translate(err))
	}
	fs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (File, error) { return scanFile(r) })
	if err != nil {
		return nil, fmt.Errorf("StaleSearchDocs(%s): %w", projectID, err)
	}
	return fs, nil
}

const qualifiedFileColumns = `f.project_id::text, f.path, f.version, f.latest_version, f.sha256, f.size, f.content_type, f.updated_at`
