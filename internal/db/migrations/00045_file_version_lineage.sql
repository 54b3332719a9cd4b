-- A file's versions form a tree, not a line: /undo goes back to the version
-- the current one was made from (its parent), which is not version - 1 once
-- an undo was followed by a new edit. Undo, redo and restore write new
-- versions (history is never rewritten), so each version also records what
-- a /redo from it brings back and whose content it copies.
--
--   parent_version  the version /undo goes back to (NULL: nothing before it)
--   redo_version    the version /redo brings back (set only on undo and redo
--                   versions, so any other write ends the redo chain)
--   copy_of         for undo, redo and restore: the version whose content it is
--   id              a short handle for buttons (callback data is 64 bytes)
--
-- Existing rows: a refinement's parent is the version its job read
-- (refine_jobs.base_version); an upload's is the version before it, which is
-- what it replaced unless an undo had moved the file back (the old undo
-- wrote no row, so that cannot be told apart afterwards). Rows of the old
-- sources undo and restore copy nothing known and get the version before.

-- +goose Up
ALTER TABLE file_versions
    ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY,
    ADD COLUMN parent_version integer,
    ADD COLUMN redo_version integer,
    ADD COLUMN copy_of integer;
ALTER TABLE file_versions ADD CONSTRAINT file_versions_id_unique UNIQUE (id);
ALTER TABLE file_versions ADD CONSTRAINT file_versions_lineage_valid CHECK (
    (parent_version IS NULL OR (parent_version >= 1 AND parent_version < version))
    AND (redo_version IS NULL OR (redo_version >= 1 AND redo_version < version))
    AND (copy_of IS NULL OR (copy_of >= 1 AND copy_of < version)));
ALTER TABLE file_versions DROP CONSTRAINT file_versions_source_valid;
ALTER TABLE file_versions ADD CONSTRAINT file_versions_source_valid
    CHECK (source IN ('upload', 'refine', 'undo', 'redo', 'restore'));

UPDATE file_versions v SET parent_version = j.base_version
    FROM refine_jobs j
    WHERE v.source = 'refine' AND v.job_id = j.id AND j.base_version IS NOT NULL AND j.base_version < v.version;
UPDATE file_versions SET parent_version = version - 1
    WHERE parent_version IS NULL AND version > 1;

-- +goose Down
UPDATE file_versions SET source = 'restore' WHERE source = 'redo';
ALTER TABLE file_versions DROP CONSTRAINT file_versions_source_valid;
ALTER TABLE file_versions ADD CONSTRAINT file_versions_source_valid
    CHECK (source IN ('upload', 'refine', 'undo', 'restore'));
ALTER TABLE file_versions DROP CONSTRAINT file_versions_lineage_valid;
ALTER TABLE file_versions DROP CONSTRAINT file_versions_id_unique;
ALTER TABLE file_versions DROP COLUMN copy_of, DROP COLUMN redo_version, DROP COLUMN parent_version, DROP COLUMN id;
