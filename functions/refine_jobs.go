package functions

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/devbot-hq/devbot/internal/editblock"
	"github.com/devbot-hq/devbot/internal/editor"
	"github.com/devbot-hq/devbot/internal/fault"
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
		Config: refine.Config{BaseRefineCredits: c.BaseRefineCredits, CreditsPerUSD: c.CreditsPerUSD, MaxFileBytes: c.MaxFileBytes,
			Lease: c.HandlerTimeout + 30*time.Second, ModelHost: hostOf(c.LLMBaseURL)},
		DB: pool, Files: files, Editor: EditorAdapter{ed}, Telegram: d.Telegram(), Keys: keys, Logger: d.Logger,
	}
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
