// Package editor turns an instruction into an edit of one file (Edit) or a
// change set of a project (EditSet): applied directly when the instruction
// already carries SEARCH/REPLACE blocks or a unified diff (free and
// instant), else by asking a model for blocks and sending refusals back to
// it a bounded number of times (reflection), or, for one file and when
// configured, by running the aider CLI. For a project the model may ask
// one question instead of guessing.
package editor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/devbot-hq/devbot/internal/editblock"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/llm"
)

// Modes of an Outcome.
const (
	ModeDirect = "direct"
	ModeLLM    = "llm"
	ModeAider  = "aider"
)

// ErrNoValidEdit is an edit that could not be applied: the direct edit was
// refused, or the model's last reply still was after its reflections. The
// error's text carries the last report. Permanent.
var ErrNoValidEdit = errors.New("no valid edit")

// Model completes a conversation (*llm.Client does).
type Model interface {
	Complete(ctx context.Context, messages []llm.Message, apiKey string) (llm.Reply, error)
}

// Config configures an Editor.
type Config struct {
	Backend        string // "llm" (default) or "aider"
	Model          Model  // nil: only direct edits
	MaxReflections int    // refused replies sent back to the model before giving up
	Aider          AiderConfig
	Logger         *slog.Logger
}

// AiderConfig runs the aider CLI, as the original platform did.
type AiderConfig struct {
	Path    string // the executable (looked up on PATH)
	Timeout time.Duration
	BaseURL string // OpenAI-compatible endpoint given to aider
	APIKey  string
	Model   string // as the endpoint knows it; aider is given openai/<Model>
}

// Editor edits files.
type Editor struct {
	cfg Config
	log *slog.Logger
}

// New returns an editor.
func New(cfg Config) *Editor {
	if cfg.Backend == "" {
		cfg.Backend = ModeLLM
	}
	if cfg.MaxReflections < 0 {
		cfg.MaxReflections = 0
	}
	if cfg.Aider.Timeout <= 0 {
		cfg.Aider.Timeout = 5 * time.Minute
	}
	if cfg.Aider.Path == "" {
		cfg.Aider.Path = "aider"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Editor{cfg: cfg, log: log}
}

// Request is one edit.
type Request struct {
	Path        string
	Content     []byte
	Instruction string
	APIKey      string // the user's own key, optional
}

// Outcome is an edit that applied, and what it cost. Edit also returns
// the usage so far with an error, so that spent tokens can be charged.
type Outcome struct {
	Result                         editblock.Result
	Mode                           string // ModeDirect, ModeLLM or ModeAider
	Model                          string
	PromptTokens, CompletionTokens int
	CostUSD                        float64
	Attempts                       int // model calls (0 for a direct edit)
}

// noValidEdit is ErrNoValidEdit with the last report.
type noValidEdit struct {
	attempts int
	last     error
}

func (e *noValidEdit) Error() string {
	if e.attempts == 0 {
		return e.last.Error()
	}
	return fmt.Sprintf("the model's edit could not be applied after %d attempt(s). The last report:\n%s", e.attempts, e.last.Error())
}
func (e *noValidEdit) Is(target error) bool { return target == ErrNoValidEdit }
func (e *noValidEdit) Unwrap() error        { return e.last }

func failed(attempts int, last error) error {
	return fault.AsPermanent(&noValidEdit{attempts: attempts, last: last})
}

// Edit applies req.Instruction to req.Content.
func (e *Editor) Edit(ctx context.Context, req Request) (out Outcome, err error) {
	defer fault.Wrap(&err, "Edit(%s)", req.Path)
	if editblock.IsDirect(req.Instruction) {
		out.Mode = ModeDirect
		res, err := editblock.ApplyDirect(req.Path, req.Content, req.Instruction)
		if err != nil {
			return out, failed(0, err)
		}
		out.Result = res
		e.log.InfoContext(ctx, "direct edit applied", slog.Int("blocks", len(res.Blocks)))
		return out, nil
	}
	if e.cfg.Backend == ModeAider {
		return e.aider(ctx, req)
	}
	return e.llm(ctx, req)
}

func (e *Editor) llm(ctx context.Context, req Request) (Outcome, error) {
	out := Outcome{Mode: ModeLLM}
	if e.cfg.Model == nil {
		return out, fault.Permanentf("%w: no model is configured: send SEARCH/REPLACE blocks or a unified diff instead", fault.ErrInvalid)
	}
	msgs := []llm.Message{
		{Role: "system", Content: systemPrompt},
		{Role: "user", Content: userPrompt(req.Path, req.Content, req.Instruction)},
	}
	var prev *editblock.Error
	var last error
	for attempt := 1; attempt <= 1+e.cfg.MaxReflections; attempt++ {
		reply, err := e.cfg.Model.Complete(ctx, msgs, req.APIKey)
		out.Attempts = attempt
		out.PromptTokens += reply.PromptTokens
		out.CompletionTokens += reply.CompletionTokens
		out.CostUSD += reply.CostUSD
		if reply.Model != "" {
			out.Model = reply.Model
		}
		if err != nil {
			return out, err // classified by the client
		}
		var res editblock.Result
		if prev != nil {
			res, err = editblock.Resume(prev, reply.Text)
		} else {
			res, err = editblock.Apply(req.Path, req.Content, reply.Text)
		}
		if err == nil {
			out.Result = res
			e.log.InfoContext(ctx, "model edit applied", slog.Int("attempts", attempt),
				slog.Int("blocks", len(res.Blocks)), slog.Int("prompt_tokens", out.PromptTokens),
				slog.Int("completion_tokens", out.CompletionTokens), slog.Float64("cost_usd", out.CostUSD))
			return out, nil
		}
		be := editblock.AsError(err)
		if be == nil {
			return out, err
		}
		e.log.InfoContext(ctx, "model edit refused", slog.Int("attempt", attempt),
			slog.Int("failed_blocks", len(be.Failures)), slog.Bool("malformed", be.Malformed != ""), slog.Bool("no_blocks", be.NoBlocks))
		prev, last = be, err
		msgs = append(msgs, llm.Message{Role: "assistant", Content: reply.Text}, llm.Message{Role: "user", Content: reflection(be, false)})
	}
	return out, failed(out.Attempts, last)
}
