-- +goose Up
-- The whole data model of DESIGN.md "Data". Integrity lives here as well as
-- in the code: a balance cannot go negative, every balance change is a ledger
-- entry with a unique cause, a job moves only along its state machine.

-- +goose StatementBegin
CREATE TABLE users (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    telegram_id        bigint NOT NULL UNIQUE,
    chat_id            bigint NOT NULL,
    first_name         text NOT NULL DEFAULT '',
    username           text NOT NULL DEFAULT '',
    -- balance is maintained by the ledger trigger only; held is the sum of the
    -- user's open credit holds, maintained by the holds trigger.
    balance            bigint NOT NULL DEFAULT 0,
    held               bigint NOT NULL DEFAULT 0,
    current_project_id uuid,
    open_path          text,
    -- AES-256-GCM ciphertext (nonce || sealed) of the user's own LLM key.
    llm_key_encrypted  bytea,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_balance_not_negative CHECK (balance >= 0),
    CONSTRAINT users_held_not_negative CHECK (held >= 0),
    CONSTRAINT users_held_covered CHECK (held <= balance)
);
-- +goose StatementEnd

CREATE TABLE projects (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT projects_name_valid CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    CONSTRAINT projects_user_name_unique UNIQUE (user_id, name),
    -- lets child tables reference (id, user_id) so a row can never point at
    -- another user's project.
    CONSTRAINT projects_id_user_unique UNIQUE (id, user_id)
);

ALTER TABLE users
    ADD CONSTRAINT users_current_project_fk
    FOREIGN KEY (current_project_id, id) REFERENCES projects (id, user_id)
    ON DELETE SET NULL (current_project_id);

CREATE TABLE project_files (
    project_id   uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    path         text NOT NULL,
    -- the version a reader sees; a refinement commits only if it still
    -- matches the version it read (optimistic concurrency).
    version      integer NOT NULL,
    -- the highest version ever written: new versions are latest_version + 1,
    -- so an undo that moves version back never reuses a number.
    latest_version integer NOT NULL,
    sha256       text NOT NULL,
    size         bigint NOT NULL,
    content_type text NOT NULL DEFAULT 'text/plain; charset=utf-8',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, path),
    CONSTRAINT project_files_path_valid CHECK (
        length(path) BETWEEN 1 AND 1024 AND path !~ '^/' AND path !~ '(^|/)\.\.?(/|$)' AND path !~ '//'),
    CONSTRAINT project_files_version_positive CHECK (version >= 1),
    CONSTRAINT project_files_version_known CHECK (version <= latest_version),
    CONSTRAINT project_files_sha256_hex CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    CONSTRAINT project_files_size_not_negative CHECK (size >= 0)
);

CREATE TABLE file_versions (
    project_id uuid NOT NULL,
    path       text NOT NULL,
    version    integer NOT NULL,
    sha256     text NOT NULL,
    size       bigint NOT NULL,
    -- where the bytes are in the project's bucket (content-addressed blob).
    blob_key   text NOT NULL,
    source     text NOT NULL,
    job_id     bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, path, version),
    FOREIGN KEY (project_id, path) REFERENCES project_files (project_id, path) ON DELETE CASCADE
        DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT file_versions_version_positive CHECK (version >= 1),
    CONSTRAINT file_versions_sha256_hex CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    CONSTRAINT file_versions_size_not_negative CHECK (size >= 0),
    CONSTRAINT file_versions_source_valid CHECK (source IN ('upload', 'refine', 'undo', 'restore'))
);

-- A file's current version must exist as a version row. Deferred: the file
-- row and its first version are inserted in one transaction.
ALTER TABLE project_files
    ADD CONSTRAINT project_files_version_fk
    FOREIGN KEY (project_id, path, version) REFERENCES file_versions (project_id, path, version)
    DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE refine_jobs (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id           bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id        uuid NOT NULL,
    path              text NOT NULL,
    instruction       text NOT NULL,
    -- direct: the instruction carries edit blocks or a diff; llm or aider: a backend is asked.
    mode              text NOT NULL,
    state             text NOT NULL DEFAULT 'queued',
    attempts          integer NOT NULL DEFAULT 0,
    chat_id           bigint NOT NULL,
    -- the Telegram update that asked for the job: one update, one job.
    source_update_id  bigint UNIQUE,
    base_version      integer,
    result_version    integer,
    before_sha256     text,
    after_sha256      text,
    diff              text,
    model             text,
    prompt_tokens     integer NOT NULL DEFAULT 0,
    completion_tokens integer NOT NULL DEFAULT 0,
    cost_usd          numeric(12, 6) NOT NULL DEFAULT 0,
    hold_credits      bigint NOT NULL DEFAULT 0,
    charged_credits   bigint NOT NULL DEFAULT 0,
    edit_attempts     integer NOT NULL DEFAULT 0,
    duration_ms       bigint,
    error             text,
    error_kind        text,
    reply_sent_at     timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz,
    FOREIGN KEY (project_id, user_id) REFERENCES projects (id, user_id) ON DELETE CASCADE,
    CONSTRAINT refine_jobs_mode_valid CHECK (mode IN ('direct', 'llm', 'aider')),
    CONSTRAINT refine_jobs_state_valid CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'rejected')),
    CONSTRAINT refine_jobs_attempts_not_negative CHECK (attempts >= 0),
    CONSTRAINT refine_jobs_instruction_present CHECK (length(instruction) BETWEEN 1 AND 65536),
    CONSTRAINT refine_jobs_tokens_not_negative CHECK (prompt_tokens >= 0 AND completion_tokens >= 0),
    CONSTRAINT refine_jobs_credits_valid CHECK (hold_credits >= 0 AND charged_credits >= 0 AND charged_credits <= hold_credits),
    CONSTRAINT refine_jobs_success_complete CHECK (
        state <> 'succeeded' OR (result_version IS NOT NULL AND after_sha256 IS NOT NULL AND finished_at IS NOT NULL)),
    CONSTRAINT refine_jobs_failure_explained CHECK (
        state NOT IN ('failed', 'rejected') OR (error IS NOT NULL AND finished_at IS NOT NULL))
);
CREATE INDEX refine_jobs_user_created ON refine_jobs (user_id, created_at DESC);
CREATE INDEX refine_jobs_file ON refine_jobs (project_id, path, created_at DESC);

ALTER TABLE file_versions
    ADD CONSTRAINT file_versions_job_fk FOREIGN KEY (job_id) REFERENCES refine_jobs (id) ON DELETE SET NULL;

-- The job state machine:
--   queued  -> running | failed | rejected
--   running -> running (a redelivery after a crash; attempts counts them)
--            | queued (handed back) | succeeded | failed | rejected
--   succeeded, failed, rejected: final.
-- +goose StatementBegin
CREATE FUNCTION refine_jobs_check_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state = NEW.state AND OLD.state <> 'running' THEN
        RETURN NEW;
    END IF;
    IF (OLD.state = 'queued' AND NEW.state IN ('running', 'failed', 'rejected'))
       OR (OLD.state = 'running' AND NEW.state IN ('running', 'queued', 'succeeded', 'failed', 'rejected')) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'refine job %: invalid state transition % -> %', OLD.id, OLD.state, NEW.state
        USING ERRCODE = 'check_violation', CONSTRAINT = 'refine_jobs_state_transition';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER refine_jobs_state_transition
    BEFORE UPDATE OF state ON refine_jobs
    FOR EACH ROW EXECUTE FUNCTION refine_jobs_check_transition();

CREATE TABLE payments (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id              bigint NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    provider             text NOT NULL,
    checkout_session_id  text UNIQUE,
    payment_intent_id    text UNIQUE,
    credits              bigint NOT NULL,
    amount               bigint NOT NULL,
    currency             text NOT NULL,
    status               text NOT NULL,
    refunded_amount      bigint NOT NULL DEFAULT 0,
    refunded_credits     bigint NOT NULL DEFAULT 0,
    -- credits a refund should have taken back but could not (already spent).
    unrecovered_credits  bigint NOT NULL DEFAULT 0,
    source_update_id     bigint UNIQUE,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payments_provider_valid CHECK (provider IN ('stripe', 'mock')),
    CONSTRAINT payments_status_valid CHECK (status IN ('pending', 'paid', 'failed', 'refunded', 'partially_refunded')),
    CONSTRAINT payments_amounts_valid CHECK (credits > 0 AND amount >= 0 AND refunded_amount >= 0
        AND refunded_credits >= 0 AND unrecovered_credits >= 0 AND refunded_credits + unrecovered_credits <= credits),
    CONSTRAINT payments_currency_valid CHECK (currency ~ '^[a-z]{3}$')
);

CREATE TABLE credit_ledger (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    amount      bigint NOT NULL,
    kind        text NOT NULL,
    -- the idempotency key: one entry per cause, ever ("welcome:<user>",
    -- "refine:<job>", "payment:<session>", "refund:<refund>").
    cause       text NOT NULL UNIQUE,
    job_id      bigint REFERENCES refine_jobs (id) ON DELETE SET NULL,
    payment_id  bigint REFERENCES payments (id) ON DELETE SET NULL,
    description text NOT NULL DEFAULT '',
    mock        boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT credit_ledger_amount_nonzero CHECK (amount <> 0),
    CONSTRAINT credit_ledger_kind_valid CHECK (kind IN ('welcome', 'purchase', 'refine', 'refund', 'adjustment')),
    CONSTRAINT credit_ledger_sign CHECK (
        (kind IN ('welcome', 'purchase') AND amount > 0) OR (kind IN ('refine', 'refund') AND amount < 0) OR kind = 'adjustment')
);
CREATE INDEX credit_ledger_user_created ON credit_ledger (user_id, created_at DESC, id DESC);

-- Every balance change is a ledger entry: the balance moves only here, in the
-- inserting transaction, under the user row's lock, so two racing debits
-- serialize and the CHECK on users refuses the one that would go negative.
-- +goose StatementBegin
CREATE FUNCTION credit_ledger_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE users SET balance = balance + NEW.amount, updated_at = now() WHERE id = NEW.user_id;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER credit_ledger_apply AFTER INSERT ON credit_ledger
    FOR EACH ROW EXECUTE FUNCTION credit_ledger_apply();

-- +goose StatementBegin
CREATE FUNCTION credit_ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'credit_ledger is append-only' USING ERRCODE = 'restrict_violation';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER credit_ledger_append_only BEFORE UPDATE OR DELETE ON credit_ledger
    FOR EACH ROW EXECUTE FUNCTION credit_ledger_append_only();

-- Credits reserved for a queued job: one hold per job; charged or released once.
CREATE TABLE credit_holds (
    job_id     bigint PRIMARY KEY REFERENCES refine_jobs (id) ON DELETE CASCADE,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    amount     bigint NOT NULL,
    state      text NOT NULL DEFAULT 'held',
    created_at timestamptz NOT NULL DEFAULT now(),
    settled_at timestamptz,
    CONSTRAINT credit_holds_amount_positive CHECK (amount > 0),
    CONSTRAINT credit_holds_state_valid CHECK (state IN ('held', 'charged', 'released'))
);

-- users.held follows the open holds; the CHECK held <= balance refuses a hold
-- the balance cannot cover, also when two holds race.
-- +goose StatementBegin
CREATE FUNCTION credit_holds_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.state <> 'held' THEN
            RAISE EXCEPTION 'a credit hold starts as held' USING ERRCODE = 'check_violation';
        END IF;
        UPDATE users SET held = held + NEW.amount WHERE id = NEW.user_id;
    ELSIF OLD.state = 'held' AND NEW.state <> 'held' THEN
        UPDATE users SET held = held - OLD.amount WHERE id = OLD.user_id;
    ELSIF OLD.state <> NEW.state OR OLD.amount <> NEW.amount THEN
        RAISE EXCEPTION 'credit hold for job % is already %', OLD.job_id, OLD.state
            USING ERRCODE = 'check_violation', CONSTRAINT = 'credit_holds_settled_once';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER credit_holds_apply AFTER INSERT OR UPDATE ON credit_holds
    FOR EACH ROW EXECUTE FUNCTION credit_holds_apply();

-- The inbox: one row per message a consumer has handled, written in the same
-- transaction as the message's effects.
CREATE TABLE processed_messages (
    consumer     text NOT NULL,
    message_key  text NOT NULL,
    outcome      text NOT NULL,
    detail       text NOT NULL DEFAULT '',
    processed_at timestamptz NOT NULL DEFAULT now(),
    -- set once the user has been answered, so a redelivery does not answer twice.
    replied_at   timestamptz,
    PRIMARY KEY (consumer, message_key),
    CONSTRAINT processed_messages_outcome_valid CHECK (outcome IN ('done', 'rejected', 'gave_up'))
);
CREATE INDEX processed_messages_processed_at ON processed_messages (processed_at);

-- +goose Down
DROP TABLE processed_messages;
DROP TABLE credit_holds;
DROP FUNCTION credit_holds_apply;
DROP TABLE credit_ledger;
DROP FUNCTION credit_ledger_apply;
DROP FUNCTION credit_ledger_append_only;
DROP TABLE payments;
ALTER TABLE file_versions DROP CONSTRAINT file_versions_job_fk;
DROP TABLE refine_jobs;
DROP FUNCTION refine_jobs_check_transition;
ALTER TABLE project_files DROP CONSTRAINT project_files_version_fk;
DROP TABLE file_versions;
DROP TABLE project_files;
ALTER TABLE users DROP CONSTRAINT users_current_project_fk;
DROP TABLE projects;
DROP TABLE users;
