-- Project names may use any letters and digits (café, données, 数据), not
-- only ASCII: a name is shown to the user and typed back, and never becomes
-- a storage key (a project's bucket is its id). The bot checks the letters
-- (Unicode classes, NFC) before inserting; this CHECK keeps what matters to
-- the database and is locale-independent: 1 to 64 characters, no space,
-- control character or slash anywhere, and not starting with _ . or -.

-- +goose Up
ALTER TABLE projects DROP CONSTRAINT projects_name_valid;
ALTER TABLE projects ADD CONSTRAINT projects_name_valid CHECK (
    char_length(name) BETWEEN 1 AND 64
    AND name !~ '[[:space:][:cntrl:]/\\]'
    AND name !~ '^[_.-]');

-- +goose Down
ALTER TABLE projects DROP CONSTRAINT projects_name_valid;
ALTER TABLE projects ADD CONSTRAINT projects_name_valid CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$');
