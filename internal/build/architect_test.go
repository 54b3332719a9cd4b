package build_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/build"
	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/llm"
	"github.com/devbot-hq/devbot/internal/llm/llmtest"
)

type bundle struct {
	srv  *llmtest.Server
	arch *build.Architect
}

// setup is an architect on the real llm client, talking to a fake
// endpoint that answers with script. Each call costs 100 prompt and 20
// completion tokens unless the script says otherwise.
func setup(t *testing.T, maxRepairs int, script ...llmtest.Response) bundle {
	t.Helper()
	srv := llmtest.New(t, script...)
	client := llm.New(llm.Config{BaseURL: srv.URL, APIKey: "sk-op", Model: "test/architect", Timeout: 5 * time.Second,
		Prices:    map[string]config.ModelPrice{"test/architect": {InputPerMillion: 1, OutputPerMillion: 2}},
		BaseDelay: time.Millisecond, Sleep: func(context.Context, time.Duration) error { return nil }})
	return bundle{srv: srv, arch: &build.Architect{Model: client, MaxRepairs: maxRepairs}}
}

var ctx = context.Background()

var thread = []build.Turn{
	{Role: "user", Text: "a todo list API with due dates"},
	{Role: "assistant", Text: "1. Which database?\n2. Do you need users?"},
	{Role: "user", Text: "SQLite; one shared list"},
}

func reply(text string) llmtest.Response { return llmtest.Response{Text: text} }

// costOf is what n calls of 100 prompt and 20 completion tokens cost.
func costOf(n int) float64 { return float64(n) * (100.0/1e6*1 + 20.0/1e6*2) }

func checkUsage(t *testing.T, u build.Usage, calls int) {
	t.Helper()
	if u.Calls != calls || u.PromptTokens != 100*calls || u.CompletionTokens != 20*calls ||
		math.Abs(u.CostUSD-costOf(calls)) > 1e-12 || u.Model != "test/architect" {
		t.Errorf("usage %+v, want %d calls", u, calls)
	}
}

// checkFormat checks that every request asked for structured output of
// the schema named name.
func checkFormat(t *testing.T, reqs []llmtest.Request, name string, schema map[string]any) {
	t.Helper()
	want, _ := json.Marshal(schema)
	for i, r := range reqs {
		rf := r.ResponseFormat
		if rf == nil || rf.Type != "json_schema" || rf.JSONSchema == nil || rf.JSONSchema.Name != name ||
			rf.JSONSchema.Strict == nil || !*rf.JSONSchema.Strict {
			t.Fatalf("request %d: response_format %+v", i, rf)
		}
		if got, _ := json.Marshal(rf.JSONSchema.Schema); string(got) != string(want) {
			t.Errorf("request %d: schema %s, want %s", i, got, want)
		}
	}
}

func last(r llmtest.Request) llmtest.Message { return r.Messages[len(r.Messages)-1] }

func TestProposeValidFirstTime(t *testing.T) {
	t.Parallel()
	b := setup(t, 0, reply(toJSON(t, todoSpec())))
	s, u, err := b.arch.Propose(ctx, thread, "sk-user")
	if err != nil {
		t.Fatal(err)
	}
	if s.Render() != todoSpec().Render() || s.Tasks[1].DoneWhen != todoSpec().Tasks[1].DoneWhen {
		t.Errorf("spec %+v", s)
	}
	checkUsage(t, u, 1)
	reqs := b.srv.Requests()
	checkFormat(t, reqs, "spec", build.SpecSchema)
	var roles []string
	for _, m := range reqs[0].Messages {
		roles = append(roles, m.Role)
	}
	if !slices.Equal(roles, []string{"system", "user", "assistant", "user", "user"}) || reqs[0].Auth != "Bearer sk-user" ||
		reqs[0].Messages[1].Text() != "The project to build:\n\na todo list API with due dates" ||
		reqs[0].Messages[3].Text() != "SQLite; one shared list" {
		t.Errorf("request %+v", reqs[0])
	}
}

func TestInvalidSpecIsRepairedOnTheNextCall(t *testing.T) {
	t.Parallel()
	noFiles := todoSpec()
	noFiles.Tasks[1].Files = []string{}
	var missing map[string]any
	_ = json.Unmarshal([]byte(toJSON(t, todoSpec())), &missing)
	delete(missing, "summary")
	for _, tc := range []struct {
		name, answer, problem string
	}{
		{"a task with no files", toJSON(t, noFiles), "- /tasks/1/files: must have at least 1 item\n"},
		{"a missing field", toJSON(t, missing), "- /summary: is missing (every property is required)\n"},
		{"bad JSON", `{"title": "todo-api", "tasks": [`, "- the answer: is not valid JSON: unexpected end of JSON input (at byte 32)\n"},
		{"a fenced answer with a bad path", "```json\n" + strings.Replace(toJSON(t, todoSpec()), `"db.py"`, `"../db.py"`, 1) + "\n```",
			"- /tasks/1/files/0: \"../db.py\" is not a valid project path: the path may not contain '..' as a folder or file name\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, 0, reply(tc.answer), reply("```json\n"+toJSON(t, todoSpec())+"\n```"))
			s, u, err := b.arch.Propose(ctx, thread, "")
			if err != nil || len(s.Tasks) != 2 {
				t.Fatalf("spec %+v err %v", s, err)
			}
			checkUsage(t, u, 2)
			reqs := b.srv.Requests()
			if len(reqs) != 2 {
				t.Fatalf("%d requests", len(reqs))
			}
			checkFormat(t, reqs, "spec", build.SpecSchema)
			msgs := reqs[1].Messages
			if n := len(reqs[0].Messages); len(msgs) != n+2 || msgs[n].Role != "assistant" || msgs[n].Text() != tc.answer {
				t.Fatalf("the repair request does not carry the answer: %+v", msgs)
			}
			if got := last(reqs[1]); got.Role != "user" || !strings.Contains(got.Text(), tc.problem) {
				t.Errorf("the repair turn does not carry %q:\n%s", tc.problem, got.Text())
			}
		})
	}
}

// A chain of invalid answers, each repaired in turn, within MaxRepairs.
func TestRepairsChain(t *testing.T) {
	t.Parallel()
	noFiles := todoSpec()
	noFiles.Tasks[0].Files = nil
	b := setup(t, 3, reply(strings.Replace(toJSON(t, noFiles), `"files":null`, `"files":[]`, 1)),
		reply(`{"title": "todo-api"}`), reply(`{"title": `), reply(toJSON(t, todoSpec())))
	if _, u, err := b.arch.Propose(ctx, thread, ""); err != nil || u.Calls != 4 {
		t.Fatalf("usage %+v err %v", u, err)
	}
	reqs := b.srv.Requests()
	for i, want := range []string{"/tasks/0/files: must have at least 1 item", "/stack: is missing", "is not valid JSON"} {
		if got := last(reqs[i+1]).Text(); !strings.Contains(got, want) {
			t.Errorf("repair %d: %q lacks %q", i+1, got, want)
		}
	}
	// Each request holds the whole conversation so far.
	if n0, n3 := len(reqs[0].Messages), len(reqs[3].Messages); n3 != n0+6 {
		t.Errorf("%d then %d messages", n0, n3)
	}
}

func TestGivesUpAfterMaxRepairs(t *testing.T) {
	t.Parallel()
	bad := todoSpec()
	bad.Tasks[0].Title = strings.Repeat("long ", 20)
	b := setup(t, 2, reply(toJSON(t, bad)), reply("not json"), reply(toJSON(t, bad)), reply(toJSON(t, todoSpec())))
	_, u, err := b.arch.Propose(ctx, thread, "")
	if !fault.IsPermanent(err) || !errors.Is(err, build.ErrInvalidSpec) || !errors.Is(err, fault.ErrInvalid) {
		t.Fatalf("err %v", err)
	}
	var ie *build.InvalidAnswerError
	if !errors.As(err, &ie) || ie.What != "spec" || ie.Answers != 3 || len(ie.Problems) != 1 ||
		ie.Problems[0].Path != "/tasks/0/title" || !strings.Contains(err.Error(), "/tasks/0/title: must be at most 60 characters (it has 99)") {
		t.Errorf("err %v (%+v)", err, ie)
	}
	checkUsage(t, u, 3)
	if n := len(b.srv.Requests()); n != 3 {
		t.Errorf("%d requests, want 3 (1 + 2 repairs)", n)
	}
}

func TestNoRepairsWhenNegative(t *testing.T) {
	t.Parallel()
	b := setup(t, -1, reply("{}"), reply(toJSON(t, todoSpec())))
	if _, u, err := b.arch.Propose(ctx, thread, ""); !errors.Is(err, build.ErrInvalidSpec) || u.Calls != 1 {
		t.Fatalf("usage %+v err %v", u, err)
	}
}

// A cut-off answer is sent back with a request to be shorter.
func TestCutOffAnswerAsksForShorter(t *testing.T) {
	t.Parallel()
	full := toJSON(t, todoSpec())
	b := setup(t, 0, llmtest.Response{Text: full[:100], FinishReason: "length"}, reply(full))
	if _, _, err := b.arch.Propose(ctx, thread, ""); err != nil {
		t.Fatal(err)
	}
	if got := last(b.srv.Requests()[1]).Text(); !strings.HasPrefix(got, "Your answer was cut off") || !strings.Contains(got, "unexpected end of JSON input") {
		t.Errorf("repair turn %q", got)
	}
}

// Model errors come back as the client classified them, with the usage
// of the calls made.
func TestModelErrorsAreReturnedAsTheyAre(t *testing.T) {
	t.Parallel()
	b := setup(t, 0, reply("{}"), llmtest.Response{Status: 401})
	_, u, err := b.arch.Propose(ctx, thread, "")
	if !fault.IsPermanent(err) || !errors.Is(err, fault.ErrUnauthorized) || errors.Is(err, build.ErrInvalidSpec) {
		t.Fatalf("err %v", err)
	}
	if u.Calls != 2 || u.PromptTokens != 100 {
		t.Errorf("usage %+v", u)
	}
	b = setup(t, 0, llmtest.Response{Status: 503}, llmtest.Response{Status: 503}, llmtest.Response{Status: 503}, llmtest.Response{Status: 503})
	if _, _, err := b.arch.Clarify(ctx, "a blog", ""); !fault.IsRetryable(err) || !errors.Is(err, fault.ErrUnavailable) {
		t.Fatalf("err %v", err)
	}
	b = setup(t, 0, llmtest.Response{Refusal: "I can't help with that."})
	if _, _, err := b.arch.Review(ctx, todoSpec(), 0, "diff", "", ""); !errors.Is(err, llm.ErrRefused) || !fault.IsPermanent(err) {
		t.Fatalf("err %v", err)
	}
}

func TestClarify(t *testing.T) {
	t.Parallel()
	b := setup(t, 0, reply(`{"questions": ["Which database?", "Do you need user accounts?"]}`), reply(`{"questions": []}`))
	qs, u, err := b.arch.Clarify(ctx, "a todo list API", "")
	if err != nil || !slices.Equal(qs, []string{"Which database?", "Do you need user accounts?"}) {
		t.Fatalf("questions %q err %v", qs, err)
	}
	checkUsage(t, u, 1)
	qs, _, err = b.arch.Clarify(ctx, "a Flask JSON API for one shared todo list with due dates, in SQLite, tested with pytest", "")
	if err != nil || len(qs) != 0 {
		t.Fatalf("questions %q err %v", qs, err)
	}
	reqs := b.srv.Requests()
	checkFormat(t, reqs, "questions", build.QuestionsSchema)
	if len(reqs[0].Messages) != 2 || reqs[0].Messages[1].Text() != "The project to build:\n\na todo list API" {
		t.Errorf("messages %+v", reqs[0].Messages)
	}
}

func TestClarifyRepairsTooManyQuestions(t *testing.T) {
	t.Parallel()
	b := setup(t, 0, reply(`{"questions": ["a?", "b?", "c?", "d?"]}`), reply(`{"questions": ["a?"]}`))
	qs, u, err := b.arch.Clarify(ctx, "something", "")
	if err != nil || len(qs) != 1 || u.Calls != 2 {
		t.Fatalf("questions %q usage %+v err %v", qs, u, err)
	}
	if got := last(b.srv.Requests()[1]).Text(); !strings.Contains(got, "/questions: must have at most 3 items (it has 4)") {
		t.Errorf("repair turn %q", got)
	}
}

func TestRevise(t *testing.T) {
	t.Parallel()
	revised := todoSpec()
	revised.Stack[2] = "PostgreSQL 16"
	revised.Tasks[1].Title = "Postgres storage for todos"
	b := setup(t, 0, reply(toJSON(t, revised)))
	s, u, err := b.arch.Revise(ctx, todoSpec(), thread, "use Postgres instead of SQLite", "")
	if err != nil || s.Tasks[1].Title != "Postgres storage for todos" {
		t.Fatalf("spec %+v err %v", s, err)
	}
	checkUsage(t, u, 1)
	reqs := b.srv.Requests()
	checkFormat(t, reqs, "spec", build.SpecSchema)
	msgs := reqs[0].Messages
	cur := msgs[len(msgs)-2]
	var sent build.Spec
	if cur.Role != "assistant" || json.Unmarshal([]byte(cur.Text()), &sent) != nil || sent.Render() != todoSpec().Render() {
		t.Errorf("the current spec is not the model's last answer: %+v", cur)
	}
	if got := last(reqs[0]).Text(); !strings.HasPrefix(got, "Change the spec: use Postgres instead of SQLite\n") {
		t.Errorf("change turn %q", got)
	}
}

func TestReview(t *testing.T) {
	t.Parallel()
	diff := "--- a/app.py\n+++ b/app.py\n@@ -1 +1,5 @@\n+from flask import Flask\n"
	b := setup(t, 0,
		reply(`{"approve": true, "reasons": []}`),
		reply(`{"approve": false, "reasons": []}`),
		reply(`{"approve": false, "reasons": ["app.py: no GET /health route, which done_when requires"]}`))
	v, u, err := b.arch.Review(ctx, todoSpec(), 0, diff, "", "")
	if err != nil || !v.Approve || len(v.Reasons) != 0 {
		t.Fatalf("verdict %+v err %v", v, err)
	}
	checkUsage(t, u, 1)
	// A rejection with no reason is sent back.
	v, u, err = b.arch.Review(ctx, todoSpec(), 0, diff, "app.py:1: F401 'os' imported but unused", "")
	if err != nil || v.Approve || !slices.Equal(v.Reasons, []string{"app.py: no GET /health route, which done_when requires"}) {
		t.Fatalf("verdict %+v err %v", v, err)
	}
	checkUsage(t, u, 2)
	reqs := b.srv.Requests()
	checkFormat(t, reqs, "verdict", build.VerdictSchema)
	first := reqs[0].Messages[1].Text()
	for _, want := range []string{"The task to review: task 1, App skeleton and config.", "Done when: " + todoSpec().Tasks[0].DoneWhen,
		"```diff\n" + diff + "```", "The static checks: nothing to report."} {
		if !strings.Contains(first, want) {
			t.Errorf("review turn lacks %q:\n%s", want, first)
		}
	}
	if got := reqs[1].Messages[1].Text(); !strings.Contains(got, "The static checks reported:\n```\napp.py:1: F401 'os' imported but unused\n```") {
		t.Errorf("review turn:\n%s", got)
	}
	if got := last(reqs[2]).Text(); !strings.Contains(got, "/reasons: must have at least 1 item when approve is false") {
		t.Errorf("repair turn %q", got)
	}
}

func TestReviewBoundsTheDiff(t *testing.T) {
	t.Parallel()
	b := setup(t, 0, reply(`{"approve": true, "reasons": []}`), reply(`{"approve": true, "reasons": []}`))
	big := strings.Repeat("+ a line of the diff\n", 10_000)
	if _, _, err := b.arch.Review(ctx, todoSpec(), 1, big, "", ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.arch.Review(ctx, todoSpec(), 1, "", "", ""); err != nil {
		t.Fatal(err)
	}
	reqs := b.srv.Requests()
	got := reqs[0].Messages[1].Text()
	if len(got) > 130_000 || !strings.Contains(got, "[the diff is cut here: ") {
		t.Errorf("a %d-byte review turn", len(got))
	}
	if got := reqs[1].Messages[1].Text(); !strings.Contains(got, "The change: none. The editor changed no file.") {
		t.Errorf("empty diff shown as:\n%s", got)
	}
}

func TestBadCallsSendNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, 0)
	errs := map[string]error{}
	_, _, errs["empty description"] = b.arch.Clarify(ctx, " \n", "")
	_, _, errs["empty thread"] = b.arch.Propose(ctx, nil, "")
	_, _, errs["bad role"] = b.arch.Propose(ctx, []build.Turn{{Role: "user", Text: "x"}, {Role: "system", Text: "y"}}, "")
	_, _, errs["empty change"] = b.arch.Revise(ctx, todoSpec(), thread, " ", "")
	_, _, errs["no such task"] = b.arch.Review(ctx, todoSpec(), 2, "d", "", "")
	_, _, errs["negative task"] = b.arch.Review(ctx, todoSpec(), -1, "d", "", "")
	_, _, errs["no model"] = (&build.Architect{}).Clarify(ctx, "a blog", "")
	for name, err := range errs {
		if !fault.IsPermanent(err) || !errors.Is(err, fault.ErrInvalid) || errors.Is(err, build.ErrInvalidSpec) {
			t.Errorf("%s: err %v", name, err)
		}
	}
	if n := len(b.srv.Requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// The prompts of every step, and a repair turn, as the model sees them.
func TestPromptsGolden(t *testing.T) {
	t.Parallel()
	b := setup(t, 0,
		reply(`{"questions": ["Which database?"]}`),
		reply(`{"title": "todo-api"}`), reply(toJSON(t, todoSpec())),
		reply(toJSON(t, todoSpec())),
		reply(`{"approve": true, "reasons": []}`))
	if _, _, err := b.arch.Clarify(ctx, "  a todo list API with due dates\n", ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.arch.Propose(ctx, thread, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.arch.Revise(ctx, todoSpec(), thread, "drop task 2", ""); err != nil {
		t.Fatal(err)
	}
	diff := "--- a/README.md\n+++ b/README.md\n@@ -0,0 +1,3 @@\n+```sh\n+flask run\n+```\n"
	if _, _, err := b.arch.Review(ctx, todoSpec(), 0, diff, "README.md: ok\n", ""); err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for i, r := range b.srv.Requests() {
		if i == 1 {
			continue // the repair request (next) repeats this one and adds the repair
		}
		got.WriteString("######## request " + r.ResponseFormat.JSONSchema.Name + "\n")
		for _, m := range r.Messages {
			got.WriteString("==> " + m.Role + "\n" + m.Text() + "\n")
		}
	}
	golden(t, "architect_prompts.golden", got.String())
}

func TestInvalidAnswerErrorBoundsItsText(t *testing.T) {
	t.Parallel()
	e := &build.InvalidAnswerError{What: "spec", Answers: 3, Problems: slices.Repeat([]build.Problem{{Path: "/tasks/0/files", Message: "must have at least 1 item"}}, 25)}
	if got := e.Error(); strings.Count(got, "/tasks/0/files") != 20 || !strings.HasSuffix(got, "; and 5 more") ||
		!strings.HasPrefix(got, "the architect's spec was still invalid after 3 answer(s); the last one: /tasks/0/files: must have at least 1 item; ") {
		t.Errorf("%s", got)
	}
}
