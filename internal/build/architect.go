package build

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/llm"
)

// ErrInvalidSpec is an answer of the architect (a spec, a clarification or
// a verdict) that was still invalid after MaxRepairs corrections: not
// JSON, or not matching its schema or our rules. The error is an
// *InvalidAnswerError carrying the last answer's problems; it wraps
// fault.ErrInvalid and is permanent.
var ErrInvalidSpec = errors.New("the architect's answer is invalid")

// InvalidAnswerError is ErrInvalidSpec with the problems of the last
// answer.
type InvalidAnswerError struct {
	What     string // "spec", "questions" or "verdict"
	Answers  int    // answers the model gave
	Problems []Problem
}

func (e *InvalidAnswerError) Error() string {
	var ps []string
	for i, p := range e.Problems {
		if i == maxListed {
			ps = append(ps, fmt.Sprintf("and %d more", len(e.Problems)-maxListed))
			break
		}
		ps = append(ps, p.String())
	}
	return fmt.Sprintf("the architect's %s was still invalid after %d answer(s); the last one: %s",
		e.What, e.Answers, strings.Join(ps, "; "))
}

// Is makes errors.Is(err, ErrInvalidSpec) hold.
func (e *InvalidAnswerError) Is(target error) bool { return target == ErrInvalidSpec }

// Unwrap makes errors.Is(err, fault.ErrInvalid) hold.
func (e *InvalidAnswerError) Unwrap() error { return fault.ErrInvalid }

// Usage sums the model calls of one step.
type Usage struct {
	Model                          string // as the endpoint named it
	PromptTokens, CompletionTokens int
	CostUSD                        float64
	Calls                          int
}

func (u *Usage) add(r llm.Reply) {
	u.Calls++
	u.PromptTokens += r.PromptTokens
	u.CompletionTokens += r.CompletionTokens
	u.CostUSD += r.CostUSD
	if r.Model != "" {
		u.Model = r.Model
	}
}

// ArchitectModel answers with structured output (*llm.Client does).
type ArchitectModel interface {
	CompleteJSON(ctx context.Context, messages []llm.Message, apiKey string, f llm.Format) (llm.Reply, error)
}

// Architect plans a build and reviews its tasks with a model: it asks
// clarifying questions, proposes and revises the spec, and approves or
// rejects each task's change. Every answer is structured output checked
// against its schema and our rules; an invalid one goes back to the model
// with its problems listed, at most MaxRepairs times.
type Architect struct {
	Model ArchitectModel
	// MaxRepairs bounds the invalid answers sent back to the model for
	// correction in one step (0: the default, 2; negative: none).
	MaxRepairs int
}

// Turn is one message of the conversation of a build so far: the
// description (the first turn, the user's), the architect's questions, the
// user's answers and change requests.
type Turn struct {
	Role string // "user" or "assistant"
	Text string
}

func (a *Architect) repairs() int {
	switch {
	case a.MaxRepairs == 0:
		return 2
	case a.MaxRepairs < 0:
		return 0
	}
	return a.MaxRepairs
}

// Clarify asks the model whether description needs clarifying: at most
// MaxQuestions questions, none when it is clear enough to plan from.
// apiKey, when not empty, is the user's own key.
func (a *Architect) Clarify(ctx context.Context, description string, apiKey string) (questions []string, u Usage, err error) {
	if strings.TrimSpace(description) == "" {
		return nil, u, fault.Permanentf("%w: the description of the project is empty", fault.ErrInvalid)
	}
	msgs := append([]llm.Message{{Role: "system", Content: clarifyPrompt}}, threadMessages([]Turn{{Role: "user", Text: description}})...)
	return ask(ctx, a, "questions", msgs, apiKey, questionsFormat, ParseQuestions)
}

// Propose asks the model for a spec of the project the thread describes
// (its description, and any questions and answers).
func (a *Architect) Propose(ctx context.Context, thread []Turn, apiKey string) (Spec, Usage, error) {
	if err := checkThread(thread); err != nil {
		return Spec{}, Usage{}, err
	}
	msgs := append([]llm.Message{{Role: "system", Content: specPrompt}}, threadMessages(thread)...)
	msgs = append(msgs, llm.Message{Role: "user", Content: proposeTurn})
	return ask(ctx, a, "spec", msgs, apiKey, specFormat, ParseSpec)
}

// Revise asks the model to apply change, in the user's words ("use SQLite
// instead of Postgres", "drop task 4"), to current, the spec it proposed
// in the conversation thread; it returns the whole revised spec.
func (a *Architect) Revise(ctx context.Context, current Spec, thread []Turn, change string, apiKey string) (Spec, Usage, error) {
	if err := checkThread(thread); err != nil {
		return Spec{}, Usage{}, err
	}
	if strings.TrimSpace(change) == "" {
		return Spec{}, Usage{}, fault.Permanentf("%w: the change to the spec is empty", fault.ErrInvalid)
	}
	msgs := append([]llm.Message{{Role: "system", Content: specPrompt}}, threadMessages(thread)...)
	msgs = append(msgs, llm.Message{Role: "assistant", Content: specJSON(current)},
		llm.Message{Role: "user", Content: reviseTurn(change)})
	return ask(ctx, a, "spec", msgs, apiKey, specFormat, ParseSpec)
}

// Review asks the model whether the change diff (a unified diff) made for
// spec.Tasks[taskIndex] meets the task's done_when, given checks, the
// report of the static checks ("" when clean). A rejection has at least
// one reason.
func (a *Architect) Review(ctx context.Context, spec Spec, taskIndex int, diff string, checks string, apiKey string) (Verdict, Usage, error) {
	if taskIndex < 0 || taskIndex >= len(spec.Tasks) {
		return Verdict{}, Usage{}, fault.Permanentf("%w: the spec has no task %d (it has %d)", fault.ErrInvalid, taskIndex+1, len(spec.Tasks))
	}
	msgs := []llm.Message{{Role: "system", Content: reviewPrompt},
		{Role: "user", Content: reviewTurn(spec, taskIndex, diff, checks)}}
	return ask(ctx, a, "verdict", msgs, apiKey, verdictFormat, ParseVerdict)
}

func checkThread(thread []Turn) error {
	if len(thread) == 0 || strings.TrimSpace(thread[0].Text) == "" {
		return fault.Permanentf("%w: the conversation has no description of the project", fault.ErrInvalid)
	}
	for i, t := range thread {
		if t.Role != "user" && t.Role != "assistant" {
			return fault.Permanentf("%w: turn %d of the conversation has the role %q (want user or assistant)", fault.ErrInvalid, i+1, t.Role)
		}
	}
	return nil
}

// ask calls the model with f until parse finds no problem in its answer,
// sending the problems back at most a.repairs() times. Model errors are
// returned as the client classified them; the usage of every call is
// returned, with an error too.
func ask[T any](ctx context.Context, a *Architect, what string, msgs []llm.Message, apiKey string, f llm.Format,
	parse func(string) (T, []Problem)) (T, Usage, error) {
	var zero T
	var u Usage
	if a.Model == nil {
		return zero, u, fault.Permanentf("%w: no architect model is configured", fault.ErrInvalid)
	}
	var last []Problem
	for range 1 + a.repairs() {
		r, err := a.Model.CompleteJSON(ctx, msgs, apiKey, f)
		u.add(r)
		if err != nil {
			return zero, u, err
		}
		v, ps := parse(r.Text)
		if len(ps) == 0 {
			return v, u, nil
		}
		last = ps
		if strings.TrimSpace(r.Text) != "" {
			msgs = append(msgs, llm.Message{Role: "assistant", Content: r.Text})
		}
		msgs = append(msgs, llm.Message{Role: "user", Content: repairTurn(ps, r.FinishReason == "length")})
	}
	return zero, u, fault.AsPermanent(&InvalidAnswerError{What: what, Answers: u.Calls, Problems: last})
}
