-- Builds (issue 15): a project built from a description. A build is a row
-- with a state machine and a step counter; every step is one message on the
-- build-steps topic, run by the BuildSteps consumer, recorded here before
-- the next is published, so a crash resumes at the last recorded step.
--
--   builds.state       new → clarifying (the architect asked) → proposing →
--                      proposed (spec shown: Start, Change, Cancel) ⇄ revising →
--                      running ⇄ paused (by the user, or out of credits) →
--                      blocked (a task failed its rounds: retry, skip, change,
--                      stop) → … → done | cancelled | failed
--   builds.step_seq    the step the build is at: a step message whose seq is
--                      not it is stale and acknowledged; published_seq is
--                      the last one confirmed published (the sweeper
--                      republishes a build whose step was never published or
--                      whose lease ran out).
--   build_tasks        the spec's tasks, with their rounds (change set, checks,
--                      verdict, tokens, cost) and what each was charged.
--   build_outbox       every message the build sends (questions, spec,
--                      progress edits, notices, the zip), written in the same
--                      transaction as the step that decided it and sent after
--                      it commits, once (claimed, then recorded as sent).
--
-- Credits: Start holds the estimate (a credit hold of the build, not of a
-- job); each task is charged what it cost, from the hold first (the hold
-- shrinks) and then from the free balance; what is left is released at the
-- end or on Cancel.

-- +goose Up
CREATE TABLE builds (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id             bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id          uuid NOT NULL,
    chat_id             bigint NOT NULL,
    source_update_id    bigint UNIQUE,
    state               text NOT NULL DEFAULT 'new',
    pause_reason        text,
    description         text NOT NULL,
    thread              jsonb NOT NULL DEFAULT '[]',
    spec                jsonb,
    current_task        integer NOT NULL DEFAULT 0,
    estimate_credits    bigint NOT NULL DEFAULT 0,
    charged_credits     bigint NOT NULL DEFAULT 0,
    prompt_tokens       bigint NOT NULL DEFAULT 0,
    completion_tokens   bigint NOT NULL DEFAULT 0,
    cost_usd            numeric(12, 6) NOT NULL DEFAULT 0,
    step_seq            bigint NOT NULL DEFAULT 1,
    published_seq       bigint NOT NULL DEFAULT 0,
    attempts            integer NOT NULL DEFAULT 0,
    claimed_at          timestamptz,
    progress_message_id bigint,
    progress_html       text,
    error               text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    started_at          timestamptz,
    finished_at         timestamptz,
    FOREIGN KEY (project_id, user_id) REFERENCES projects (id, user_id) ON DELETE CASCADE,
    CONSTRAINT builds_state_valid CHECK (state IN ('new', 'clarifying', 'proposing', 'proposed', 'revising', 'running',
        'paused', 'blocked', 'done', 'cancelled', 'failed')),
    CONSTRAINT builds_description_present CHECK (length(description) BETWEEN 1 AND 8000),
    CONSTRAINT builds_counts_valid CHECK (current_task >= 0 AND estimate_credits >= 0 AND charged_credits >= 0
        AND step_seq >= 1 AND published_seq >= 0 AND attempts >= 0)
);
CREATE INDEX builds_user_created ON builds (user_id, created_at DESC);
CREATE INDEX builds_active ON builds (updated_at) WHERE state IN ('new', 'proposing', 'revising', 'running');

CREATE TABLE build_tasks (
    build_id         bigint NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    n                integer NOT NULL,
    task             jsonb NOT NULL,
    state            text NOT NULL DEFAULT 'pending',
    round            integer NOT NULL DEFAULT 0,
    feedback         text,
    rounds           jsonb NOT NULL DEFAULT '[]',
    prompt_tokens    bigint NOT NULL DEFAULT 0,
    completion_tokens bigint NOT NULL DEFAULT 0,
    cost_usd         numeric(12, 6) NOT NULL DEFAULT 0,
    charged_credits  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (build_id, n),
    CONSTRAINT build_tasks_state_valid CHECK (state IN ('pending', 'running', 'approved', 'failed', 'skipped')),
    CONSTRAINT build_tasks_n_positive CHECK (n >= 1 AND round >= 0)
);

CREATE TABLE build_outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    build_id    bigint NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    kind        text NOT NULL,
    html        text NOT NULL DEFAULT '',
    buttons     jsonb,
    claimed_at  timestamptz,
    sent_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT build_outbox_kind_valid CHECK (kind IN ('message', 'progress', 'zip'))
);
CREATE INDEX build_outbox_unsent ON build_outbox (build_id, id) WHERE sent_at IS NULL;

ALTER TABLE change_sets ADD COLUMN build_id bigint REFERENCES builds (id) ON DELETE SET NULL;

-- A credit hold belongs to a job or to a build. A build's hold shrinks as
-- its tasks are charged (users.held follows).
ALTER TABLE credit_holds DROP CONSTRAINT credit_holds_pkey;
ALTER TABLE credit_holds ALTER COLUMN job_id DROP NOT NULL;
ALTER TABLE credit_holds ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
ALTER TABLE credit_holds ADD COLUMN build_id bigint REFERENCES builds (id) ON DELETE CASCADE;
ALTER TABLE credit_holds ADD CONSTRAINT credit_holds_job_unique UNIQUE (job_id);
ALTER TABLE credit_holds ADD CONSTRAINT credit_holds_build_unique UNIQUE (build_id);
ALTER TABLE credit_holds ADD CONSTRAINT credit_holds_owner CHECK (num_nonnulls(job_id, build_id) = 1);
ALTER TABLE credit_holds DROP CONSTRAINT credit_holds_amount_positive;
ALTER TABLE credit_holds ADD CONSTRAINT credit_holds_amount_valid CHECK (amount > 0 OR (build_id IS NOT NULL AND amount >= 0));

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION credit_holds_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.state <> 'held' THEN
            RAISE EXCEPTION 'a credit hold starts as held' USING ERRCODE = 'check_violation';
        END IF;
        UPDATE users SET held = held + NEW.amount WHERE id = NEW.user_id;
    ELSIF OLD.state = 'held' AND NEW.state <> 'held' THEN
        UPDATE users SET held = held - OLD.amount WHERE id = OLD.user_id;
    ELSIF OLD.state = 'held' AND NEW.state = 'held' AND NEW.build_id IS NOT NULL AND NEW.amount <= OLD.amount THEN
        -- a build's hold shrinks as its tasks are charged
        UPDATE users SET held = held - (OLD.amount - NEW.amount) WHERE id = OLD.user_id;
    ELSIF OLD.state <> NEW.state OR OLD.amount <> NEW.amount THEN
        RAISE EXCEPTION 'credit hold % is already % (or only a build hold may shrink)', OLD.id, OLD.state
            USING ERRCODE = 'check_violation', CONSTRAINT = 'credit_holds_settled_once';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

ALTER TABLE credit_ledger ADD COLUMN build_id bigint REFERENCES builds (id) ON DELETE SET NULL;
ALTER TABLE credit_ledger DROP CONSTRAINT credit_ledger_kind_valid;
ALTER TABLE credit_ledger ADD CONSTRAINT credit_ledger_kind_valid
    CHECK (kind IN ('welcome', 'purchase', 'refine', 'refund', 'adjustment', 'build'));
ALTER TABLE credit_ledger DROP CONSTRAINT credit_ledger_sign;
ALTER TABLE credit_ledger ADD CONSTRAINT credit_ledger_sign CHECK (
    (kind IN ('welcome', 'purchase') AND amount > 0) OR (kind IN ('refine', 'refund', 'build') AND amount < 0) OR kind = 'adjustment');

-- +goose Down
ALTER TABLE credit_ledger DROP CONSTRAINT credit_ledger_sign;
DELETE FROM credit_holds WHERE build_id IS NOT NULL;
ALTER TABLE credit_ledger DROP CONSTRAINT credit_ledger_kind_valid;
ALTER TABLE credit_ledger ADD CONSTRAINT credit_ledger_kind_valid
    CHECK (kind IN ('welcome', 'purchase', 'refine', 'refund', 'adjustment')) NOT VALID;
ALTER TABLE credit_ledger ADD CONSTRAINT credit_ledger_sign CHECK (
    (kind IN ('welcome', 'purchase') AND amount > 0) OR (kind IN ('refine', 'refund') AND amount < 0) OR kind = 'adjustment') NOT VALID;
ALTER TABLE credit_ledger DROP COLUMN build_id;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION credit_holds_apply() RETURNS trigger
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
ALTER TABLE credit_holds DROP CONSTRAINT credit_holds_amount_valid;
ALTER TABLE credit_holds ADD CONSTRAINT credit_holds_amount_positive CHECK (amount > 0);
ALTER TABLE credit_holds DROP CONSTRAINT credit_holds_owner;
ALTER TABLE credit_holds DROP CONSTRAINT credit_holds_build_unique;
ALTER TABLE credit_holds DROP CONSTRAINT credit_holds_job_unique;
ALTER TABLE credit_holds DROP COLUMN build_id;
ALTER TABLE credit_holds DROP COLUMN id;
ALTER TABLE credit_holds ALTER COLUMN job_id SET NOT NULL;
ALTER TABLE credit_holds ADD PRIMARY KEY (job_id);
ALTER TABLE change_sets DROP COLUMN build_id;
DROP TABLE build_outbox;
DROP TABLE build_tasks;
DROP TABLE builds;
