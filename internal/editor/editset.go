package editor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/devbot-hq/devbot/internal/editblock"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/llm"
)

// SetRequest is one change to a project.
type SetRequest struct {
	Tree        editblock.Tree // the project as it is (files read lazily)
	Focus       string         // the file "/refine PATH" named, or the open file; "" for none
	Instruction string         // the user's request (the newest user turn)
	Context     string         // the project context for the model (projectmap.Context.Render()), may be ""
	Thread      []llm.Message  // earlier turns of this conversation: user instruction, assistant question, ... (may be nil)
	APIKey      string         // the user's own key, optional
}

// SetOutcome is a change to a project, or the question the model asked
// instead, and what it cost. EditSet also returns the usage so far with an
// error, so that spent tokens can be charged.
type SetOutcome struct {
	ChangeSet editblock.ChangeSet
	// Question, when set, is what the model asked instead of editing;
	// ChangeSet is then empty. The caller shows it and sends the answer
	// as the next instruction, with Reply in the Thread.
	Question                       string
	Reply                          string // the model's last reply text; "" for a direct edit
	Mode                           string // ModeDirect or ModeLLM
	Model                          string
	PromptTokens, CompletionTokens int
	CostUSD                        float64
	Attempts                       int // model calls (0 for a direct edit)
}

// EditSet applies req.Instruction to the project: directly when it carries
// the edit, else through the model, whose reply may edit, create, delete
// and rename files, all or nothing, or ask one question. A refusal is
// ErrNoValidEdit (permanent) with the last report in its chain.
func (e *Editor) EditSet(ctx context.Context, req SetRequest) (out SetOutcome, err error) {
	defer fault.Wrap(&err, "EditSet(%s)", req.Focus)
	if editblock.IsDirect(req.Instruction) {
		return e.directSet(ctx, req)
	}
	if e.cfg.Backend == ModeAider {
		// aider is run on one file at a time; a project's change needs the
		// SEARCH/REPLACE model loop.
		return SetOutcome{Mode: ModeAider}, fault.Permanentf("%w: the aider backend edits one file at a time and cannot change a project: set EDIT_BACKEND=llm, or send SEARCH/REPLACE blocks", fault.ErrInvalid)
	}
	return e.llmSet(ctx, req)
}

// directSet applies the user's own blocks, or a unified diff to the focus
// file (a hunk carries no file name the tree could be searched for).
func (e *Editor) directSet(ctx context.Context, req SetRequest) (SetOutcome, error) {
	out := SetOutcome{Mode: ModeDirect}
	var cs editblock.ChangeSet
	var err error
	if editblock.HasBlocks(req.Instruction) {
		cs, err = editblock.ApplySetFocus(req.Tree, req.Instruction, req.Focus)
	} else {
		cs, err = unifiedSet(req)
	}
	if err != nil {
		if editblock.AsError(err) == nil && !errors.Is(err, fault.ErrInvalid) {
			return out, err // the tree's (storage), classified there
		}
		return out, failed(0, err)
	}
	out.ChangeSet = cs
	e.log.InfoContext(ctx, "direct change set applied", slog.Int("blocks", len(cs.Blocks)), slog.Int("files", len(cs.Files)))
	return out, nil
}

// unifiedSet applies a unified diff to the focus file, as a change set of
// that one file.
func unifiedSet(req SetRequest) (editblock.ChangeSet, error) {
	if req.Focus == "" {
		return editblock.ChangeSet{}, fault.Permanentf("%w: a unified diff applies to one file: name it (/refine PATH), or send SEARCH/REPLACE blocks that name their files", fault.ErrInvalid)
	}
	if !slices.Contains(req.Tree.Paths(), req.Focus) {
		return editblock.ChangeSet{}, fault.Permanentf("%w: %s is not a file of the project", fault.ErrInvalid, req.Focus)
	}
	old, err := req.Tree.Read(req.Focus)
	if err != nil {
		return editblock.ChangeSet{}, err
	}
	res, err := editblock.ApplyDirect(req.Focus, old, req.Instruction)
	if err != nil {
		return editblock.ChangeSet{}, err
	}
	cs := editblock.ChangeSet{Blocks: res.Blocks}
	if string(res.Content) != string(old) {
		// The diff is rendered as GitDiff renders it from storage, so the
		// change set shows the same text now and later.
		fc := editblock.FileChange{Op: editblock.Modified, Path: req.Focus, OldPath: req.Focus, Old: old, New: res.Content}
		fc.Diff = editblock.GitDiff([]editblock.FileChange{fc})
		cs.Files, cs.Diff = []editblock.FileChange{fc}, fc.Diff
	}
	return cs, nil
}

func (e *Editor) llmSet(ctx context.Context, req SetRequest) (SetOutcome, error) {
	out := SetOutcome{Mode: ModeLLM}
	if e.cfg.Model == nil {
		return out, fault.Permanentf("%w: no model is configured: send SEARCH/REPLACE blocks that name their files instead", fault.ErrInvalid)
	}
	msgs := make([]llm.Message, 0, len(req.Thread)+2+2*e.cfg.MaxReflections)
	msgs = append(msgs, llm.Message{Role: "system", Content: setSystemPrompt})
	msgs = append(msgs, req.Thread...)
	msgs = append(msgs, llm.Message{Role: "user", Content: setUserPrompt(req.Context, req.Focus, req.Instruction)})
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
		out.Reply = reply.Text
		if q := question(reply.Text); q != "" {
			out.Question = q
			e.log.InfoContext(ctx, "model asked a question", slog.Int("attempts", attempt))
			return out, nil
		}
		// Every attempt applies to the original tree: a change set is
		// whole, so the model resends all its blocks (SetPrompt says so).
		cs, err := editblock.ApplySetFocus(req.Tree, reply.Text, req.Focus)
		if err == nil {
			out.ChangeSet = cs
			e.log.InfoContext(ctx, "model change set applied", slog.Int("attempts", attempt),
				slog.Int("blocks", len(cs.Blocks)), slog.Int("files", len(cs.Files)), slog.Int("prompt_tokens", out.PromptTokens),
				slog.Int("completion_tokens", out.CompletionTokens), slog.Float64("cost_usd", out.CostUSD))
			return out, nil
		}
		be := editblock.AsError(err)
		if be == nil {
			return out, err
		}
		e.log.InfoContext(ctx, "model change set refused", slog.Int("attempt", attempt),
			slog.Int("failed_blocks", len(be.Failures)), slog.Bool("malformed", be.Malformed != ""), slog.Bool("no_blocks", be.NoBlocks))
		last = err
		msgs = append(msgs, llm.Message{Role: "assistant", Content: reply.Text}, llm.Message{Role: "user", Content: reflection(be, true)})
	}
	return out, failed(out.Attempts, last)
}

// setUserPrompt is the newest user turn: what the model knows of the
// project, the file the user is on, and the request.
func setUserPrompt(context, focus, instruction string) string {
	s := ""
	if context != "" {
		s = strings.TrimRight(context, "\n") + "\n\n"
	}
	if focus != "" {
		s += fmt.Sprintf("The user is working on %s.\n\n", focus)
	}
	return s + "The change to make:\n" + strings.TrimSpace(instruction)
}
