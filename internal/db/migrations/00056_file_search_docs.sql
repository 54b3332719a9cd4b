-- Per-file search documents for the model's project context (issue 14 item 3):
-- which files of a project are relevant to an instruction is found with
-- PostgreSQL full-text search, so no extra service is needed. One row per
-- project file, replaced whenever a version of the file becomes current.
--
-- doc holds three weighted parts, all produced by projectmap's tokenizer
-- (identifiers already split, camelCase and snake_case): the path's words
-- (weight A), the top-level symbol names (weight B) and the file's text
-- (weight D). outline is the rendered outline of top-level symbols, kept so
-- the project map can be built without reading every file from storage.

-- +goose Up
CREATE TABLE file_search_docs (
    project_id uuid NOT NULL,
    path       text NOT NULL,
    -- the file version the document was built from.
    version    integer NOT NULL,
    outline    text NOT NULL DEFAULT '',
    doc        tsvector NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, path),
    -- a document belongs to a project file and goes with it.
    FOREIGN KEY (project_id, path) REFERENCES project_files (project_id, path) ON DELETE CASCADE,
    CONSTRAINT file_search_docs_version_positive CHECK (version >= 1)
);

CREATE INDEX file_search_docs_doc_idx ON file_search_docs USING GIN (doc);

-- +goose Down
DROP TABLE file_search_docs;
