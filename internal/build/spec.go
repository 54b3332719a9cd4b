package build

import (
	"fmt"
	"html"
	"strings"
	"unicode/utf8"

	"github.com/devbot-hq/devbot/internal/storage"
)

// Limits of a spec, a clarification and a verdict that the schemas do not
// state (strict structured outputs support only a subset of JSON Schema):
// Spec.Validate and the Parse functions check them.
const (
	MaxTasks     = 12 // tasks in a spec (at least 1)
	MaxTitleLen  = 60 // characters of a spec's or a task's title
	MaxQuestions = 3  // clarifying questions in one message
	MaxReasons   = 10 // reasons in a verdict
)

// Spec is the plan of a build, as the architect proposes it and the user
// accepts it: the project, its stack, and the tasks that build it, in
// order.
type Spec struct {
	Title   string   `json:"title"`
	Summary string   `json:"summary"`
	Stack   []string `json:"stack"`
	Tasks   []Task   `json:"tasks"`
}

// Task is one step of a Spec: what it does, the files it is expected to
// touch, and how a reviewer tells that it is done.
type Task struct {
	Title    string   `json:"title"`
	Does     string   `json:"does"`
	Files    []string `json:"files"`
	DoneWhen string   `json:"done_when"`
}

// Verdict is the architect's review of one task's change: approved, or
// rejected with reasons tied to the task's done_when.
type Verdict struct {
	Approve bool     `json:"approve"`
	Reasons []string `json:"reasons"`
}

// SpecSchema is the JSON Schema of a Spec, as sent to the model
// (strict-mode compatible: every object closed, every property required;
// counts and lengths are in the descriptions and checked by
// Spec.Validate). The answers are validated against it as it is when first
// used: do not modify it.
var SpecSchema = map[string]any{
	"type":                 "object",
	"additionalProperties": false,
	"required":             []any{"title", "summary", "stack", "tasks"},
	"properties": map[string]any{
		"title":   str("A short name for the project, like a repository name; at most 60 characters."),
		"summary": str("One sentence: what is built, with what, and where its data is kept."),
		"stack": map[string]any{
			"type":        "array",
			"description": "The languages, frameworks, databases and test tools, with versions where they matter; at least one.",
			"items":       map[string]any{"type": "string"},
		},
		"tasks": map[string]any{
			"type":        "array",
			"description": "1 to 12 tasks, in the order they are built.",
			"items": map[string]any{
				"type":                 "object",
				"additionalProperties": false,
				"required":             []any{"title", "does", "files", "done_when"},
				"properties": map[string]any{
					"title": str("A few words, at most 60 characters, unique in the spec."),
					"does":  str("What the task adds or changes, concretely."),
					"files": map[string]any{
						"type":        "array",
						"description": "Paths, relative to the project's root, of the files the task creates or changes; at least one.",
						"items":       map[string]any{"type": "string"},
					},
					"done_when": str("How a reviewer tells from the change that the task is done: observable and checkable."),
				},
			},
		},
	},
}

// QuestionsSchema is the JSON Schema of a clarification: at most three
// questions, none when the description is clear enough.
var QuestionsSchema = map[string]any{
	"type":                 "object",
	"additionalProperties": false,
	"required":             []any{"questions"},
	"properties": map[string]any{
		"questions": map[string]any{
			"type":        "array",
			"description": "0 to 3 short questions; empty when the description is clear enough to plan from.",
			"items":       map[string]any{"type": "string"},
		},
	},
}

// VerdictSchema is the JSON Schema of a Verdict (strict-mode compatible).
var VerdictSchema = map[string]any{
	"type":                 "object",
	"additionalProperties": false,
	"required":             []any{"approve", "reasons"},
	"properties": map[string]any{
		"approve": map[string]any{"type": "boolean", "description": "true when the change meets the task's done_when."},
		"reasons": map[string]any{
			"type":        "array",
			"description": "For a rejection, at least one concrete reason naming what is wrong, where, and which part of done_when it fails.",
			"items":       map[string]any{"type": "string"},
		},
	},
}

func str(description string) map[string]any {
	return map[string]any{"type": "string", "description": description}
}

// Validate checks the rules of a spec that its schema does not state: a
// title, summary and stack; 1 to MaxTasks tasks; titles of at most
// MaxTitleLen characters, with no two tasks alike; every task saying what
// it does and when it is done, with at least one file, each a valid
// project path (storage.ValidatePath) named once. Nil when s is valid.
func (s Spec) Validate() []Problem {
	var ps []Problem
	add := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	title(&ps, "/title", s.Title)
	if strings.TrimSpace(s.Summary) == "" {
		add("/summary", "must not be empty")
	}
	if len(s.Stack) == 0 {
		add("/stack", "must have at least 1 item")
	}
	for i, st := range s.Stack {
		if strings.TrimSpace(st) == "" {
			add(fmt.Sprintf("/stack/%d", i), "must not be empty")
		}
	}
	switch n := len(s.Tasks); {
	case n == 0:
		add("/tasks", "must have at least 1 item")
	case n > MaxTasks:
		add("/tasks", "must have at most %d items (it has %d): merge related tasks", MaxTasks, n)
	}
	seen := map[string]int{}
	for i, t := range s.Tasks {
		at := fmt.Sprintf("/tasks/%d", i)
		title(&ps, at+"/title", t.Title)
		key := strings.ToLower(strings.Join(strings.Fields(t.Title), " "))
		if j, ok := seen[key]; ok && key != "" {
			add(at+"/title", "repeats the title of /tasks/%d: every task needs its own title", j)
		} else {
			seen[key] = i
		}
		if strings.TrimSpace(t.Does) == "" {
			add(at+"/does", "must not be empty")
		}
		if strings.TrimSpace(t.DoneWhen) == "" {
			add(at+"/done_when", "must not be empty")
		}
		if len(t.Files) == 0 {
			add(at+"/files", "must have at least 1 item")
		}
		files := map[string]int{}
		for k, f := range t.Files {
			fat := fmt.Sprintf("%s/files/%d", at, k)
			if err := storage.ValidatePath(f); err != nil {
				add(fat, "%q is not a valid project path: %v", f, err)
			} else if j, ok := files[f]; ok {
				add(fat, "repeats %s/files/%d", at, j)
			} else {
				files[f] = k
			}
		}
	}
	return ps
}

// title checks a spec's or a task's title.
func title(ps *[]Problem, path, t string) {
	switch n := utf8.RuneCountInString(strings.TrimSpace(t)); {
	case n == 0:
		*ps = append(*ps, Problem{Path: path, Message: "must not be empty"})
	case n > MaxTitleLen:
		*ps = append(*ps, Problem{Path: path, Message: fmt.Sprintf("must be at most %d characters (it has %d)", MaxTitleLen, n)})
	case strings.ContainsAny(t, "\r\n"):
		*ps = append(*ps, Problem{Path: path, Message: "must be one line"})
	}
}

// Validate checks the rules of a verdict that its schema does not state: a
// rejection gives at least one reason; at most MaxReasons reasons, none
// empty.
func (v Verdict) Validate() []Problem {
	var ps []Problem
	if !v.Approve && len(v.Reasons) == 0 {
		ps = append(ps, Problem{Path: "/reasons", Message: "must have at least 1 item when approve is false: say what is wrong, where, and which part of done_when it fails"})
	}
	if len(v.Reasons) > MaxReasons {
		ps = append(ps, Problem{Path: "/reasons", Message: fmt.Sprintf("must have at most %d items (it has %d)", MaxReasons, len(v.Reasons))})
	}
	for i, r := range v.Reasons {
		if strings.TrimSpace(r) == "" {
			ps = append(ps, Problem{Path: fmt.Sprintf("/reasons/%d", i), Message: "must not be empty"})
		}
	}
	return ps
}

// validateQuestions checks what QuestionsSchema does not state: at most
// MaxQuestions questions, none empty.
func validateQuestions(qs []string) []Problem {
	var ps []Problem
	if len(qs) > MaxQuestions {
		ps = append(ps, Problem{Path: "/questions", Message: fmt.Sprintf("must have at most %d items (it has %d): ask only what changes the plan", MaxQuestions, len(qs))})
	}
	for i, q := range qs {
		if strings.TrimSpace(q) == "" {
			ps = append(ps, Problem{Path: fmt.Sprintf("/questions/%d", i), Message: "must not be empty"})
		}
	}
	return ps
}

// Render is the spec as compact Telegram HTML: the title in bold and the
// summary, the stack, and the numbered tasks with their files:
//
//	<b>todo-api</b> — a Flask JSON API for one shared todo list.
//	Stack: Python 3.12, Flask, SQLite, pytest.
//	1. App skeleton and config (app.py, requirements.txt)
func (s Spec) Render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "<b>%s</b>", html.EscapeString(strings.TrimSpace(s.Title)))
	if sum := strings.TrimSpace(s.Summary); sum != "" {
		b.WriteString(" — " + html.EscapeString(sum))
	}
	var stack []string
	for _, st := range s.Stack {
		if st = strings.TrimSpace(st); st != "" {
			stack = append(stack, st)
		}
	}
	if len(stack) > 0 {
		line := strings.Join(stack, ", ")
		if !strings.HasSuffix(line, ".") {
			line += "."
		}
		b.WriteString("\nStack: " + html.EscapeString(line))
	}
	for i, t := range s.Tasks {
		fmt.Fprintf(&b, "\n%d. %s", i+1, html.EscapeString(strings.TrimSpace(t.Title)))
		if len(t.Files) > 0 {
			b.WriteString(" (" + html.EscapeString(strings.Join(t.Files, ", ")) + ")")
		}
	}
	return b.String()
}
