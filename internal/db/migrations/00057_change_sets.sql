-- Change sets (issue 14 item 5): the unit of change is the project. Every
-- write (an upload, a refinement of one or many files, an undo, a redo, a
-- per-file revert) is one change set: one row here, with one file version
-- per file it touched, committed in one transaction that moves the project
-- to its next revision.
--
--   projects.revision        the project's last change set's revision: each
--                            commit takes the project row's lock and adds 1,
--                            so change sets of one project are totally
--                            ordered and a reader knows which state it saw.
--   project_files.deleted    a deleted file keeps its row and its history:
--                            its current version is a tombstone, so /undo
--                            brings it back. Every reader of the current
--                            files skips deleted ones.
--   file_versions.deleted    this version is a tombstone (no content).
--   file_versions.renamed_from  the path this version's content came from,
--                            when a change set renamed the file.
--   file_versions.replaces   the version that was current when this one was
--                            written; NULL when the file was not there (new,
--                            or deleted). A change set's diff and its undo
--                            read it (parent_version is the per-file undo's
--                            lineage, which an undo or redo rewrites).
--   change_sets.undoes       for an undo: the change set it reverts; for a
--                            redo: the undo it reverts.
--   change_sets.undone_by    the change set that reverted this one.
--   refine_jobs.scope        file: the old one-file refinement of the open
--                            file; project: a change set of the project,
--                            focused on path when path is not ''.
--   refine_jobs.question     the model asked this instead of editing; the
--                            user's next message answers it (a new job whose
--                            follows names this one, thread carrying the
--                            turns so far).
--   pinned_files             the files /add keeps in the model's context.
--   users.awaiting_job       the job whose question the next plain message
--                            answers.
--
-- Existing rows migrate without loss: each refinement job's versions become
-- one change set, every other version (an upload, an undo, a redo, a
-- restore) one change set of its own, numbered per project in the order
-- they were written.

-- +goose Up
ALTER TABLE projects ADD COLUMN revision bigint NOT NULL DEFAULT 0;
ALTER TABLE projects ADD CONSTRAINT projects_revision_not_negative CHECK (revision >= 0);

ALTER TABLE project_files ADD COLUMN deleted boolean NOT NULL DEFAULT false;

CREATE TABLE change_sets (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id      uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind            text NOT NULL,
    job_id          bigint REFERENCES refine_jobs (id) ON DELETE SET NULL,
    base_revision   bigint NOT NULL,
    result_revision bigint NOT NULL,
    undoes          bigint REFERENCES change_sets (id) ON DELETE SET NULL,
    undone_by       bigint REFERENCES change_sets (id) ON DELETE SET NULL,
    summary         text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    legacy_group    text,
    CONSTRAINT change_sets_kind_valid CHECK (kind IN ('upload', 'refine', 'undo', 'redo', 'revert')),
    CONSTRAINT change_sets_revisions_valid CHECK (base_revision >= 0 AND result_revision = base_revision + 1),
    CONSTRAINT change_sets_project_revision_unique UNIQUE (project_id, result_revision),
    CONSTRAINT change_sets_undo_linked CHECK (kind NOT IN ('undo', 'redo') OR undoes IS NOT NULL OR legacy_group IS NOT NULL)
);
CREATE INDEX change_sets_job ON change_sets (job_id) WHERE job_id IS NOT NULL;
CREATE INDEX change_sets_undoes ON change_sets (undoes) WHERE undoes IS NOT NULL;

ALTER TABLE file_versions
    ADD COLUMN change_set_id bigint REFERENCES change_sets (id) ON DELETE SET NULL,
    ADD COLUMN deleted boolean NOT NULL DEFAULT false,
    ADD COLUMN renamed_from text,
    ADD COLUMN replaces integer;
ALTER TABLE file_versions ADD CONSTRAINT file_versions_replaces_valid CHECK (replaces IS NULL OR (replaces >= 1 AND replaces < version));
CREATE INDEX file_versions_change_set ON file_versions (change_set_id);

ALTER TABLE refine_jobs
    ADD COLUMN scope text NOT NULL DEFAULT 'file',
    ADD COLUMN change_set_id bigint REFERENCES change_sets (id) ON DELETE SET NULL,
    ADD COLUMN question text,
    ADD COLUMN follows bigint REFERENCES refine_jobs (id) ON DELETE SET NULL,
    ADD COLUMN thread jsonb,
    ADD COLUMN model_reply text;
ALTER TABLE refine_jobs ADD CONSTRAINT refine_jobs_scope_valid CHECK (scope IN ('file', 'project'));

CREATE TABLE pinned_files (
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    path       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, path)
);

ALTER TABLE users ADD COLUMN awaiting_job bigint REFERENCES refine_jobs (id) ON DELETE SET NULL;

-- Replaced below, once the backfill has linked jobs to change sets.
ALTER TABLE refine_jobs DROP CONSTRAINT refine_jobs_success_complete;

-- The backfill: a job's versions are one change set, every other version
-- one of its own, numbered per project by when they were written.
INSERT INTO change_sets (project_id, kind, job_id, base_revision, result_revision, created_at, legacy_group, summary)
SELECT project_id,
       CASE source WHEN 'upload' THEN 'upload' WHEN 'refine' THEN 'refine' ELSE 'revert' END,
       job_id, rev - 1, rev, at, g, ''
FROM (
    SELECT project_id, g, at, source, job_id,
           row_number() OVER (PARTITION BY project_id ORDER BY at, first_id) AS rev
    FROM (
        SELECT project_id,
               CASE WHEN source = 'refine' AND job_id IS NOT NULL THEN 'j' || job_id ELSE 'v' || id END AS g,
               min(created_at) AS at, min(id) AS first_id, min(source) AS source, max(job_id) AS job_id
        FROM file_versions
        GROUP BY project_id, CASE WHEN source = 'refine' AND job_id IS NOT NULL THEN 'j' || job_id ELSE 'v' || id END
    ) grouped
) numbered;

UPDATE file_versions v SET change_set_id = c.id
    FROM change_sets c
    WHERE c.project_id = v.project_id
      AND c.legacy_group = CASE WHEN v.source = 'refine' AND v.job_id IS NOT NULL THEN 'j' || v.job_id ELSE 'v' || v.id END;

-- What an old version replaced is not recorded. A refinement's or an
-- upload's lineage parent is it; an undo, redo or restore (redo_version or
-- copy_of set) replaced the version written just before it, since every
-- write took latest_version + 1 (the old undo that only moved the pointer
-- wrote no row, and is the one case this can get wrong).
UPDATE file_versions v SET replaces = CASE
    WHEN v.redo_version IS NULL AND v.copy_of IS NULL THEN v.parent_version
    ELSE (SELECT max(w.version) FROM file_versions w
          WHERE w.project_id = v.project_id AND w.path = v.path AND w.version < v.version) END;

UPDATE refine_jobs j SET change_set_id = c.id
    FROM change_sets c WHERE c.job_id = j.id AND c.kind = 'refine' AND j.state = 'succeeded';

UPDATE projects p SET revision = r.n
    FROM (SELECT project_id, max(result_revision) AS n FROM change_sets GROUP BY project_id) r
    WHERE r.project_id = p.id;

-- A project job succeeds with a change set, or with a question; a file job
-- as before. Added after the backfill linked the jobs to their change sets.
-- NOT VALID: a question job whose question a down migration dropped (and a
-- migration up again cannot bring back) stays; every new or changed row is
-- checked.
ALTER TABLE refine_jobs ADD CONSTRAINT refine_jobs_success_complete CHECK (
    state <> 'succeeded' OR finished_at IS NOT NULL AND (
        (result_version IS NOT NULL AND after_sha256 IS NOT NULL)
        OR change_set_id IS NOT NULL OR question IS NOT NULL)) NOT VALID;

-- +goose Down
ALTER TABLE users DROP COLUMN awaiting_job;
DROP TABLE pinned_files;
ALTER TABLE refine_jobs DROP CONSTRAINT refine_jobs_success_complete;
-- Project jobs keep their rows: the old check holds for new rows only.
ALTER TABLE refine_jobs ADD CONSTRAINT refine_jobs_success_complete CHECK (
    state <> 'succeeded' OR (result_version IS NOT NULL AND after_sha256 IS NOT NULL AND finished_at IS NOT NULL)) NOT VALID;
ALTER TABLE refine_jobs DROP CONSTRAINT refine_jobs_scope_valid;
ALTER TABLE refine_jobs DROP COLUMN model_reply, DROP COLUMN thread, DROP COLUMN follows, DROP COLUMN question,
    DROP COLUMN change_set_id, DROP COLUMN scope;
-- A deleted file has no place in the old model: it goes, with its history.
DELETE FROM project_files WHERE deleted;
-- The cascade queued deferred checks; run them now, before the ALTERs.
SET CONSTRAINTS ALL IMMEDIATE;
ALTER TABLE file_versions DROP CONSTRAINT file_versions_replaces_valid;
ALTER TABLE file_versions DROP COLUMN replaces, DROP COLUMN renamed_from, DROP COLUMN deleted, DROP COLUMN change_set_id;
DROP TABLE change_sets;
ALTER TABLE project_files DROP COLUMN deleted;
ALTER TABLE projects DROP CONSTRAINT projects_revision_not_negative;
ALTER TABLE projects DROP COLUMN revision;
