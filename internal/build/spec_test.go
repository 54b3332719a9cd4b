package build_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/build"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s changed; review it and run go test ./internal/build -run %s -update\n got:\n%s", name, t.Name(), got)
	}
}

func todoSpec() build.Spec {
	return build.Spec{
		Title:   "todo-api",
		Summary: "a Flask JSON API for one shared todo list with due dates, stored in SQLite.",
		Stack:   []string{"Python 3.12", "Flask", "SQLite", "pytest"},
		Tasks: []build.Task{
			{Title: "App skeleton and config", Does: "Create the Flask app with a health route and pin the dependencies.",
				Files: []string{"app.py", "requirements.txt"}, DoneWhen: "GET /health returns {\"ok\": true}; requirements.txt pins Flask and pytest."},
			{Title: "SQLite storage for todos", Does: "A todos table (id, title, due date, done) with functions to add, list and complete todos.",
				Files: []string{"db.py"}, DoneWhen: "db.py creates the table on first use and add_todo/list_todos/complete_todo work on a temporary database."},
		},
	}
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func strs(ps []build.Problem) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func TestParseSpec(t *testing.T) {
	t.Parallel()
	tasks := func(n int) []build.Task {
		ts := make([]build.Task, n)
		for i := range ts {
			ts[i] = build.Task{Title: fmt.Sprintf("Task %d", i+1), Does: "d", Files: []string{fmt.Sprintf("f%d.py", i)}, DoneWhen: "w"}
		}
		return ts
	}
	edit := func(f func(s *build.Spec)) string {
		s := todoSpec()
		f(&s)
		return toJSON(t, s)
	}
	valid := toJSON(t, todoSpec())
	for _, tc := range []struct {
		name, answer string
		want         []string // problems, in order; nil: valid
	}{
		{"valid", valid, nil},
		{"fenced", "```json\n" + valid + "\n```", nil},
		{"prose and a bare fence", "Here is the spec:\n```\n" + valid + "\n```\nTell me if you want changes.", nil},
		{"prose around the object", "Sure! " + valid + " Done.", nil},
		{"the limits exactly", edit(func(s *build.Spec) {
			s.Title = strings.Repeat("t", build.MaxTitleLen)
			s.Tasks = tasks(build.MaxTasks)
			s.Tasks[0].Title = strings.Repeat("é", build.MaxTitleLen)
		}), nil},
		{"surrounding spaces are trimmed", edit(func(s *build.Spec) { s.Title = "  todo-api "; s.Tasks[0].Files[0] = " app.py" }), nil},

		{"empty answer", "  ", []string{"the answer: is empty: reply with the JSON object"}},
		{"bad JSON", `{"title": "x", "tasks": [}`, []string{"the answer: is not valid JSON: invalid character '}' looking for beginning of value (at byte 26)"}},
		{"cut off", valid[:len(valid)/2], []string{fmt.Sprintf("the answer: is not valid JSON: unexpected end of JSON input (at byte %d)", len(valid)/2)}},
		{"bad JSON in a fence", "```json\n{\"title\": }\n```", []string{"the answer: is not valid JSON: invalid character '}' looking for beginning of value (at byte 11)"}},
		{"not an object", `[1, 2]`, []string{"the answer: must be an object, not an array"}},
		{"null", `null`, []string{"the answer: must be an object, not null"}},
		{"missing fields", `{"title": "x", "tasks": [{"title": "a", "does": "d", "files": ["a.py"]}]}`, []string{
			"/stack: is missing (every property is required)",
			"/summary: is missing (every property is required)",
			"/tasks/0/done_when: is missing (every property is required)",
		}},
		{"wrong types and an extra property", `{"title": 7, "summary": "s", "stack": "Go", "tasks": [{"title": "a", "does": "d", "files": "a.go", "done_when": "w", "notes": ""}]}`, []string{
			"/stack: must be an array, not a string",
			"/tasks/0/files: must be an array, not a string",
			"/tasks/0/notes: is not allowed: there is no such property",
			"/title: must be a string, not a number",
		}},
		{"no files", edit(func(s *build.Spec) { s.Tasks[1].Files = []string{} }), []string{"/tasks/1/files: must have at least 1 item"}},
		{"null files", edit(func(s *build.Spec) { s.Tasks[1].Files = nil }), []string{"/tasks/1/files: must be an array, not null"}},
		{"no tasks", edit(func(s *build.Spec) { s.Tasks = []build.Task{} }), []string{"/tasks: must have at least 1 item"}},
		{"too many tasks", edit(func(s *build.Spec) { s.Tasks = tasks(13) }), []string{"/tasks: must have at most 12 items (it has 13): merge related tasks"}},
		{"empty texts", edit(func(s *build.Spec) {
			s.Summary, s.Stack, s.Tasks[0].Does, s.Tasks[1].DoneWhen, s.Tasks[1].Title = " ", []string{"Go", ""}, "", "\n", ""
		}), []string{
			"/stack/1: must not be empty",
			"/summary: must not be empty",
			"/tasks/0/does: must not be empty",
			"/tasks/1/done_when: must not be empty",
			"/tasks/1/title: must not be empty",
		}},
		{"no stack", edit(func(s *build.Spec) { s.Stack = []string{} }), []string{"/stack: must have at least 1 item"}},
		{"long titles", edit(func(s *build.Spec) {
			s.Title = strings.Repeat("x", 61)
			s.Tasks[1].Title = "Storage\nfor todos"
		}), []string{"/tasks/1/title: must be one line", "/title: must be at most 60 characters (it has 61)"}},
		{"repeated titles", edit(func(s *build.Spec) { s.Tasks[1].Title = "app  SKELETON and config" }),
			[]string{"/tasks/1/title: repeats the title of /tasks/0: every task needs its own title"}},
		{"bad paths", edit(func(s *build.Spec) {
			s.Tasks[0].Files = []string{"/etc/passwd", "../up.py", "a//b.py", "_devbot/x", "ok.py", "ok.py", "src/"}
		}), []string{
			`/tasks/0/files/0: "/etc/passwd" is not a valid project path: the path may not start with '/'`,
			`/tasks/0/files/1: "../up.py" is not a valid project path: the path may not contain '..' as a folder or file name`,
			`/tasks/0/files/2: "a//b.py" is not a valid project path: the path may not contain '//'`,
			`/tasks/0/files/3: "_devbot/x" is not a valid project path: paths under '_devbot/' are reserved for devbot's version history`,
			"/tasks/0/files/5: repeats /tasks/0/files/4",
			`/tasks/0/files/6: "src/" is not a valid project path: the path may not end with '/'`,
		}},
		// The schema's problem about a place hides our rules' about it, and
		// the problems are in the order of their paths, numbers as numbers.
		{"order and no double report", edit(func(s *build.Spec) {
			s.Tasks = tasks(11)
			s.Tasks[10].Files = []string{}
			s.Tasks[2].Files = []string{}
		}), []string{"/tasks/2/files: must have at least 1 item", "/tasks/10/files: must have at least 1 item"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, ps := build.ParseSpec(tc.answer)
			if !slices.Equal(strs(ps), tc.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(strs(ps), "\n"), strings.Join(tc.want, "\n"))
			}
			if tc.want == nil && (s.Title == "" || len(s.Tasks) == 0 || s.Title != strings.TrimSpace(s.Title) || s.Tasks[0].Files[0] != strings.TrimSpace(s.Tasks[0].Files[0])) {
				t.Errorf("spec %+v", s)
			}
		})
	}
}

func TestParseQuestions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		answer string
		qs     []string
		want   []string
	}{
		{`{"questions": []}`, []string{}, nil},
		{`{"questions": [" Web page or JSON API? ", "Which database?"]}`, []string{"Web page or JSON API?", "Which database?"}, nil},
		{`{"questions": ["a?", "b?", "c?", "d?"]}`, nil, []string{"/questions: must have at most 3 items (it has 4): ask only what changes the plan"}},
		{`{"questions": ["a?", ""]}`, nil, []string{"/questions/1: must not be empty"}},
		{`{"questions": "a?"}`, nil, []string{"/questions: must be an array, not a string"}},
		{`{}`, nil, []string{"/questions: is missing (every property is required)"}},
		{`no questions`, nil, []string{"the answer: is not valid JSON: invalid character 'o' in literal null (expecting 'u') (at byte 2)"}},
	} {
		qs, ps := build.ParseQuestions(tc.answer)
		if !slices.Equal(strs(ps), tc.want) {
			t.Errorf("%s: problems %q, want %q", tc.answer, strs(ps), tc.want)
		}
		if tc.want == nil && !slices.Equal(qs, tc.qs) {
			t.Errorf("%s: questions %q, want %q", tc.answer, qs, tc.qs)
		}
	}
}

func TestParseVerdict(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		answer string
		v      build.Verdict
		want   []string
	}{
		{`{"approve": true, "reasons": []}`, build.Verdict{Approve: true, Reasons: []string{}}, nil},
		{`{"approve": true, "reasons": ["db.py could close its connections"]}`, build.Verdict{Approve: true, Reasons: []string{"db.py could close its connections"}}, nil},
		{`{"approve": false, "reasons": ["app.py: GET /health is missing"]}`, build.Verdict{Reasons: []string{"app.py: GET /health is missing"}}, nil},
		{`{"approve": false, "reasons": []}`, build.Verdict{}, []string{"/reasons: must have at least 1 item when approve is false: say what is wrong, where, and which part of done_when it fails"}},
		{`{"approve": false, "reasons": [" "]}`, build.Verdict{}, []string{"/reasons/0: must not be empty"}},
		{`{"approve": "yes", "reasons": []}`, build.Verdict{}, []string{"/approve: must be a boolean, not a string"}},
		{`{"approve": true}`, build.Verdict{}, []string{"/reasons: is missing (every property is required)"}},
		{toJSON(t, build.Verdict{Reasons: slices.Repeat([]string{"r"}, 11)}), build.Verdict{}, []string{"/reasons: must have at most 10 items (it has 11)"}},
	} {
		v, ps := build.ParseVerdict(tc.answer)
		if !slices.Equal(strs(ps), tc.want) {
			t.Errorf("%s: problems %q, want %q", tc.answer, strs(ps), tc.want)
		}
		if tc.want == nil && (v.Approve != tc.v.Approve || !slices.Equal(v.Reasons, tc.v.Reasons)) {
			t.Errorf("%s: verdict %+v, want %+v", tc.answer, v, tc.v)
		}
	}
}

// Strict structured outputs need every object closed and every property
// required.
func TestSchemasAreStrict(t *testing.T) {
	t.Parallel()
	var check func(path string, s map[string]any)
	check = func(path string, s map[string]any) {
		switch s["type"] {
		case "object":
			if s["additionalProperties"] != false {
				t.Errorf("%s: additionalProperties is not false", path)
			}
			props, _ := s["properties"].(map[string]any)
			var req []string
			for _, r := range s["required"].([]any) {
				req = append(req, r.(string))
			}
			var keys []string
			for k, p := range props {
				keys = append(keys, k)
				check(path+"/"+k, p.(map[string]any))
			}
			slices.Sort(keys)
			slices.Sort(req)
			if !slices.Equal(keys, req) {
				t.Errorf("%s: required %v, properties %v", path, req, keys)
			}
		case "array":
			check(path+"[]", s["items"].(map[string]any))
		case "string", "boolean":
		default:
			t.Errorf("%s: type %v", path, s["type"])
		}
	}
	check("spec", build.SpecSchema)
	check("questions", build.QuestionsSchema)
	check("verdict", build.VerdictSchema)
}

func TestExtractJSON(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		` {"a":1} `:                           `{"a":1}`,
		"```json\n{\"a\":1}\n```":             `{"a":1}`,
		"````JSON\n{\"a\":\"```\"}\n````\n":   "{\"a\":\"```\"}",
		"The spec:\n```\n{\"a\":1}\n```\nOK?": `{"a":1}`,
		"So: {\"a\": {\"b\": 2}} — there.":    `{"a": {"b": 2}}`,
		"```json\n{\"a\": }\n```":             `{"a": }`,
		"nothing here":                        "nothing here",
	} {
		if got := build.ExtractJSON(in); got != want {
			t.Errorf("ExtractJSON(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	want := "<b>todo-api</b> — a Flask JSON API for one shared todo list with due dates, stored in SQLite.\n" +
		"Stack: Python 3.12, Flask, SQLite, pytest.\n" +
		"1. App skeleton and config (app.py, requirements.txt)\n" +
		"2. SQLite storage for todos (db.py)"
	if got := todoSpec().Render(); got != want {
		t.Errorf("Render:\n%s\nwant:\n%s", got, want)
	}
}

func TestRenderGolden(t *testing.T) {
	t.Parallel()
	s := todoSpec()
	s.Title = "a<b> & co"
	s.Summary = "HTML like <script> & \"quotes\" is escaped"
	s.Stack = []string{"C++ <17>", " ", "Make."}
	s.Tasks = append(s.Tasks,
		build.Task{Title: "Templates <html>", Files: []string{"templates/index.html", "static/a&b.css"}},
		build.Task{Title: "No files yet"})
	var b strings.Builder
	b.WriteString(todoSpec().Render() + "\n\n---\n\n" + s.Render() + "\n\n---\n\n" + (build.Spec{Title: "bare"}).Render() + "\n")
	golden(t, "spec_render.golden", b.String())
}
