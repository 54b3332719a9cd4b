package functions

import (
	"context"
	"net/http"

	"github.com/devbot-hq/devbot/internal/build"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/editor"
	"github.com/devbot-hq/devbot/internal/langcheck"
	"github.com/devbot-hq/devbot/internal/llm"
)

// buildBuildSteps: run the steps of builds, as a Pub/Sub push consumer.
func buildBuildSteps(ctx context.Context, d *Deps) (http.Handler, error) {
	r, err := d.BuildRunner(ctx)
	if err != nil {
		return nil, err
	}
	return d.consumer(ctx, BuildStepsName, r.Handle, r.GiveUp)
}

// BuildRunner is the build-steps consumer's runner: the architect model
// (ARCHITECT_*), the editor model (LLM_*), storage, the Bot API and the
// build-steps publisher. The Sweeper uses it to send what builds left
// unsent.
func (d *Deps) BuildRunner(ctx context.Context) (*build.Runner, error) {
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
	pub, err := d.Publisher(ctx, d.Config.TopicBuildSteps)
	if err != nil {
		return nil, err
	}
	c := d.Config
	architect := llm.New(llm.Config{BaseURL: c.ArchitectBaseURL, APIKey: c.ArchitectAPIKey, Model: c.ArchitectModel,
		Timeout: c.LLMTimeout, Prices: c.LLMPrices})
	lease := RefineLeaseConfig(c.RefineLease, c.HandlerTimeout)
	return &build.Runner{
		Config: build.Config{BaseTaskCredits: c.BaseRefineCredits, CreditsPerUSD: c.CreditsPerUSD, TaskEstimate: c.BuildTaskCredits,
			RoundCredits: c.MaxRefineCredits, MaxRounds: c.BuildMaxRounds, Lease: lease.Lease, ContextTokens: c.ProjectContextTokens,
			MaxFileBytes: c.MaxFileBytes, Limits: db.ProjectLimits{MaxFiles: c.MaxProjectFiles, MaxBytes: c.MaxProjectBytes}},
		DB: pool, Files: files, Planner: &build.Architect{Model: architect}, Editor: BuildEditor{d.Editor()},
		Telegram: d.Telegram(), Publisher: pub, Keys: keys, Logger: d.Logger, Check: checkFiles,
	}, nil
}

// checkFiles is the builds' static checks: every changed file parses for
// its language (internal/langcheck), one line per problem.
func checkFiles(files map[string][]byte) []string {
	ps := langcheck.CheckAll(files)
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// BuildEditor adapts editor.Editor to the build's Editor.
type BuildEditor struct{ E *editor.Editor }

// EditSet asks the editor model for a task's change set.
func (a BuildEditor) EditSet(ctx context.Context, r build.EditRequest) (build.EditOutcome, error) {
	out, err := a.E.EditSet(ctx, editor.SetRequest{Tree: r.Tree, Instruction: r.Instruction, Context: r.Context, APIKey: r.APIKey})
	return build.EditOutcome{ChangeSet: out.ChangeSet, Question: out.Question, Usage: build.Usage{Model: out.Model,
		PromptTokens: out.PromptTokens, CompletionTokens: out.CompletionTokens, CostUSD: out.CostUSD, Calls: out.Attempts}}, err
}
