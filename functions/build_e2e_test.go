package functions

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/llm/llmtest"
)

// A build end to end, through the webhook, embedded Pub/Sub (telegram-
// updates, refine-jobs, build-steps), storage and PostgreSQL, with a fake
// OpenAI-compatible model answering the architect (structured outputs) and
// the editor in turn: a question, the spec, Start, two tasks (the second
// rejected once by review, then fixed), the README, the zip.

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func buildSpec() map[string]any {
	return map[string]any{
		"title":   "todo-api",
		"summary": "A Flask JSON API for one shared todo list.",
		"stack":   []string{"Python 3.12", "Flask"},
		"tasks": []map[string]any{
			{"title": "App skeleton", "does": "A Flask app with an index route.", "files": []string{"app.py"},
				"done_when": "GET / answers 200."},
			{"title": "Todo endpoints", "does": "List and add todos in memory.", "files": []string{"app.py", "todos.py"},
				"done_when": "GET and POST /todos work."},
		},
	}
}

const (
	skeletonReply = "app.py\n```python\n<<<<<<< SEARCH\n=======\nfrom flask import Flask\n\napp = Flask(__name__)\n\n\n@app.get(\"/\")\ndef index():\n    return {\"ok\": True}\n>>>>>>> REPLACE\n```\n"
	todosReply    = "todos.py\n```python\n<<<<<<< SEARCH\n=======\nTODOS = []\n>>>>>>> REPLACE\n```\n\n" +
		"app.py\n```python\n<<<<<<< SEARCH\ndef index():\n    return {\"ok\": True}\n=======\ndef index():\n    return {\"ok\": True}\n\n\n@app.get(\"/todos\")\ndef todos():\n    return {\"todos\": TODOS}\n>>>>>>> REPLACE\n```\n"
	postReply   = "app.py\n```python\n<<<<<<< SEARCH\n@app.get(\"/todos\")\ndef todos():\n    return {\"todos\": TODOS}\n=======\n@app.get(\"/todos\")\ndef todos():\n    return {\"todos\": TODOS}\n\n\n@app.post(\"/todos\")\ndef add():\n    TODOS.append(1)\n    return {\"todos\": TODOS}, 201\n>>>>>>> REPLACE\n```\n"
	readmeReply = "README.md\n```\n<<<<<<< SEARCH\n=======\n# todo-api\n\nRun: flask --app app run\n>>>>>>> REPLACE\n```\n"
)

func TestBuildEndToEnd(t *testing.T) {
	t.Parallel()
	approve := llmtest.Response{Text: jsonText(map[string]any{"approve": true, "reasons": []string{}})}
	model := llmtest.New(t,
		llmtest.Response{Text: jsonText(map[string]any{"questions": []string{"Should todos have due dates?"}})},
		llmtest.Response{Text: jsonText(buildSpec())},
		llmtest.Response{Text: skeletonReply}, approve,
		llmtest.Response{Text: todosReply},
		llmtest.Response{Text: jsonText(map[string]any{"approve": false, "reasons": []string{"POST /todos is missing"}})},
		llmtest.Response{Text: postReply}, approve,
		llmtest.Response{Text: readmeReply},
	)
	w := newTGWorldOf(t, "local", model.URL, map[string]string{"BUILD_TASK_CREDITS": "5", "MAX_REFINE_CREDITS": "5"}, nil, true)
	w.want(w.post(w.msg("/start"), 1), "20 free credits")
	w.want(w.post(w.msg("/build a small todo API in Python with Flask"), 2), "Let me think about it in a new project",
		"Before I plan it, one question", "Should todos have due dates?")
	got := w.post(w.msg("no due dates, keep it simple"), 2)
	w.want(got, "Thanks, planning it now", "todo-api", "1. App skeleton", "2. Todo endpoints", "Estimated 15 credits")
	var buildID int64
	w.scan(`SELECT id FROM builds`, &buildID)
	last := w.tg.Replies(ann)[len(w.tg.Replies(ann))-1]
	if !strings.Contains(last.Params["reply_markup"], fmt.Sprintf("bstart:%d", buildID)) {
		t.Fatalf("the spec has no Start button: %q", last.Params["reply_markup"])
	}
	if err := w.send(w.tap(fmt.Sprintf("bstart:%d", buildID))); err != nil {
		t.Fatal(err)
	}
	w.waitFor("✅ <b>todo-api</b> is built", 40*time.Second)

	var state string
	var charged, held, balance int64
	w.scan(`SELECT b.state, b.charged_credits, u.held, u.balance FROM builds b JOIN users u ON u.id = b.user_id`, &state, &charged, &held, &balance)
	if state != "done" || held != 0 || charged <= 0 || balance != 20-charged {
		t.Errorf("build %s, charged %d, held %d, balance %d", state, charged, held, balance)
	}
	var rounds int
	w.scan(`SELECT round FROM build_tasks WHERE n = 2`, &rounds)
	if rounds != 2 {
		t.Errorf("task 2 took %d rounds, want 2 (rejected once)", rounds)
	}
	docs := w.tg.Calls("sendDocument")
	if len(docs) != 1 || docs[0].Params["document_name"] != "" && !strings.HasSuffix(docs[0].Params["document_name"], ".zip") {
		t.Fatalf("documents: %d", len(docs))
	}
	zr, err := zip.NewReader(bytes.NewReader(docs[0].Document), int64(len(docs[0].Document)))
	if err != nil {
		t.Fatalf("the document is not a zip: %v", err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != "README.md,app.py,todos.py" {
		t.Errorf("zip holds %v", names)
	}
	if n := len(model.Requests()); n != 9 {
		t.Errorf("%d model calls, want 9", n)
	}
	w.want(w.post(w.msg("/status"), 1), "Built <b>todo-api</b>", "2/2")
}

// The spec changes in plain words before Start, and Cancel ends the build
// without a charge; a description clear enough gets no questions.
func TestBuildSpecChangeAndCancel(t *testing.T) {
	t.Parallel()
	revised := buildSpec()
	revised["title"] = "todo-cli"
	revised["stack"] = []string{"Python 3.12", "argparse"}
	model := llmtest.New(t,
		llmtest.Response{Text: jsonText(map[string]any{"questions": []string{}})},
		llmtest.Response{Text: jsonText(buildSpec())},
		llmtest.Response{Text: jsonText(revised)},
	)
	w := newTGWorldOf(t, "local", model.URL, nil, nil, true)
	w.want(w.post(w.msg("/start"), 1), "20 free credits")
	w.want(w.post(w.msg("/new todo"), 1), "Project todo created")
	got := w.post(w.msg("/build a todo API in Flask"), 3)
	w.want(got, "Let me think about it in todo", "Planning…", "<b>todo-api</b>", "Estimated 30 credits")
	var id int64
	w.scan(`SELECT id FROM builds`, &id)
	w.want(w.post(w.tap(fmt.Sprintf("bchange:%d", id)), 1), "Say in plain words what to change")
	got = w.post(w.msg("make it a command-line app instead"), 2)
	w.want(got, "Revising the spec", "<b>todo-cli</b>", "argparse")
	reqs := model.Requests()
	if len(reqs) != 3 || !strings.Contains(reqs[2].Messages[len(reqs[2].Messages)-1].Text(), "make it a command-line app instead") {
		t.Fatalf("the revision request does not carry the change: %d calls", len(reqs))
	}
	// Start is refused: 30 credits are estimated and Ann has 20.
	w.want(w.post(w.tap(fmt.Sprintf("bstart:%d", id)), 1), "Not now: it is estimated at 30 credits")
	w.want(w.post(w.tap(fmt.Sprintf("bcancel:%d", id)), 1), "Cancelled")
	var state string
	var balance, held int64
	w.scan(`SELECT b.state, u.balance, u.held FROM builds b JOIN users u ON u.id = b.user_id`, &state, &balance, &held)
	if state != "cancelled" || balance != 20 || held != 0 {
		t.Errorf("after cancel: %s, balance %d, held %d", state, balance, held)
	}
	w.want(w.post(w.tap(fmt.Sprintf("bstart:%d", id)), 1), "Not now: this build has ended")
}

// A long first message in a new project describes what to build: it starts
// a build as /build does; in a project with files it is a change request.
func TestLongFirstMessageStartsABuild(t *testing.T) {
	t.Parallel()
	model := llmtest.New(t, llmtest.Response{Text: jsonText(map[string]any{"questions": []string{"Which database?"}})})
	w := newTGWorldOf(t, "local", model.URL, nil, nil, true)
	w.want(w.post(w.msg("/start"), 1), "20 free credits")
	w.want(w.post(w.msg("/new shop"), 1), "Project shop created")
	w.want(w.post(w.msg("a small web shop in Go with a product list, a cart and a checkout page"), 2),
		"Let me think about it in shop", "Which database?")
	var builds int
	var jobs int
	w.scan(`SELECT (SELECT count(*) FROM builds), (SELECT count(*) FROM refine_jobs)`, &builds, &jobs)
	if builds != 1 || jobs != 0 {
		t.Errorf("%d builds and %d jobs, want the message to start 1 build", builds, jobs)
	}
}
