package functions

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/editblock"
	"github.com/devbot-hq/devbot/internal/editor"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/llm"
	"github.com/devbot-hq/devbot/internal/refine"
)

// buildRefineJobs: run refinement jobs, as a Pub/Sub push consumer.
func buildRefineJobs(ctx context.Context, d *Deps) (http.Handler, error) {
	pool, err := d.DB(ctx)
	if err != nil {
		return nil, err
	}
	files, err := d.Storage()
	if err != nil {
		return nil, err
	}
	keys, err := d.Keys()
	if err != nil {
		return nil, err
	}
	c := d.Config
	ed := d.Editor()
	r := &refine.Runner{
		Config: RefineLeaseConfig(c.RefineLease, c.HandlerTimeout),
		DB:     pool, Files: files, Editor: EditorAdapter{ed}, SetEditor: EditorAdapter{ed}, Telegram: d.Telegram(), Keys: keys,
		Logger: d.Logger,
	}
	r.Config.BaseRefineCredits, r.Config.CreditsPerUSD, r.Config.MaxFileBytes = c.BaseRefineCredits, c.CreditsPerUSD, c.MaxFileBytes
	r.Config.ModelHost = hostOf(c.LLMBaseURL)
	r.Config.ContextTokens = c.ProjectContextTokens
	r.Config.Limits = db.ProjectLimits{MaxFiles: c.MaxProjectFiles, MaxBytes: c.MaxProjectBytes}
	d.OnShutdown(r.Shutdown)
	return d.consumer(ctx, RefineJobsName, r.Handle, r.GiveUp)
}

// hostOf is the host of a URL, how replies name the model service.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// RefineLeaseConfig sizes a refinement's lease against the delivery's
// deadline. With the production numbers (infra/terraform: RefineJobs
// timeout 540 s, so HANDLER_TIMEOUT 486 s and an ack deadline of 570 s;
// REFINE_LEASE 30 s; retry backoff 10-600 s; 5 attempts):
//
//   - the heartbeat renews the lease every 10 s (a third: two renewals may
//     fail before it runs out);
//   - an instance killed mid-call leaves a lease of at most 30 s. Its
//     request fails (Cloud Run answers 5xx, or Pub/Sub gives up after the
//     570 s ack deadline); the redelivery comes after the backoff (>= 10 s)
//     and, finding the lease live, waits for it (ClaimWait = lease + one
//     heartbeat = 40 s) and resumes the job itself. So one remaining
//     attempt suffices, whatever the backoff: the old lease (516 s) outlived
//     the ~150 s that four backoffs give and every redelivery got a 503;
//   - the resumed work has HANDLER_TIMEOUT - ClaimWait = 446 s left, more
//     than the editor's bounded model calls need;
//   - a SIGTERM releases the lease at once (Shutdown), so the redelivery
//     claims without waiting; Cloud Run's 10 s grace is spent only on the
//     release (one UPDATE) and on answering 503.
//
// deploycheck holds Terraform to the relation: ClaimWait must leave most
// of HANDLER_TIMEOUT, and the ack deadline must cover the request timeout.
func RefineLeaseConfig(lease, handlerTimeout time.Duration) refine.Config {
	if lease <= 0 {
		lease = 30 * time.Second
	}
	heartbeat := lease / 3
	wait := lease + heartbeat
	if handlerTimeout > 0 && wait > handlerTimeout/2 {
		wait = handlerTimeout / 2 // never spend most of a delivery waiting
	}
	return refine.Config{Lease: lease, Heartbeat: heartbeat, ClaimWait: wait, ReplyClaim: 90 * time.Second}
}

// EditorAdapter adapts editor.Editor to the runner's Editor.
type EditorAdapter struct{ E *editor.Editor }

// Edit runs the editor and flattens its outcome; editor.ErrNoValidEdit
// becomes a refine.NoValidEditError that says in plain words why the last
// attempt did not apply.
func (a EditorAdapter) Edit(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
	out, err := a.E.Edit(ctx, editor.Request{Path: r.Path, Content: r.Content, Instruction: r.Instruction, APIKey: r.APIKey})
	o := refine.EditOutcome{Content: out.Result.Content, Diff: out.Result.Diff, Edits: len(out.Result.Blocks),
		Model: out.Model, PromptTokens: out.PromptTokens, CompletionTokens: out.CompletionTokens,
		CostUSD: out.CostUSD, Attempts: out.Attempts}
	if errors.Is(err, editor.ErrNoValidEdit) {
		nv := &refine.NoValidEditError{Report: err.Error()}
		if be := editblock.AsError(err); be != nil {
			nv.Report, nv.Reasons = be.Error(), plainReasons(be)
		}
		err = fault.AsPermanent(fmt.Errorf("%w (%w)", nv, err))
	}
	return o, err
}

// EditSet runs the editor on a whole project; editor.ErrNoValidEdit
// becomes a refine.NoValidEditError as in Edit.
func (a EditorAdapter) EditSet(ctx context.Context, r refine.SetEditRequest) (refine.SetEditOutcome, error) {
	thread := make([]llm.Message, len(r.Thread))
	for i, t := range r.Thread {
		thread[i] = llm.Message{Role: t.Role, Content: t.Text}
	}
	out, err := a.E.EditSet(ctx, editor.SetRequest{Tree: r.Tree, Focus: r.Focus, Instruction: r.Instruction,
		Context: r.Context, Thread: thread, APIKey: r.APIKey})
	o := refine.SetEditOutcome{ChangeSet: out.ChangeSet, Question: out.Question, Reply: out.Reply,
		Direct: out.Mode == editor.ModeDirect, Model: out.Model, PromptTokens: out.PromptTokens,
		CompletionTokens: out.CompletionTokens, CostUSD: out.CostUSD, Attempts: out.Attempts}
	if errors.Is(err, editor.ErrNoValidEdit) {
		nv := &refine.NoValidEditError{Report: err.Error()}
		if be := editblock.AsError(err); be != nil {
			nv.Report, nv.Reasons = be.Error(), plainReasons(be)
		}
		err = fault.AsPermanent(fmt.Errorf("%w (%w)", nv, err))
	}
	return o, err
}

// plainReasons says why a reply's edits were refused, for the user (the
// report itself is written for the model).
func plainReasons(e *editblock.Error) []string {
	switch {
	case e.Malformed != "":
		return []string{"its reply was not in the edit format"}
	case e.NoBlocks:
		return []string{"its reply held no edit"}
	}
	var out []string
	for _, f := range e.Failures {
		why := strings.NewReplacer("the SEARCH text", "the text to change", "SEARCH", "search").Replace(f.Reason)
		if len(e.Failures) > 1 {
			why = fmt.Sprintf("change %d: %s", f.Block, why)
		}
		out = append(out, why)
	}
	return out
}
