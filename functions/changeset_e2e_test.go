package functions

import (
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/llm/llmtest"
)

// Change sets end to end, through the webhook, embedded Pub/Sub, storage
// and PostgreSQL, with a fake OpenAI-compatible model: a request in plain
// words changes two files and creates a third, with the project (map and
// pinned file) as the model's context; /history and /diff rN show it as a
// diff git applies; Undo reverts all its files at once and /redo brings
// them back; a question is asked, answered, and the answer continues the
// same conversation; a rename and a deletion are undone as a whole.

const (
	appPy  = "from flask import Flask\n\napp = Flask(__name__)\n\n\n@app.get(\"/\")\ndef index():\n    return \"hi\"\n"
	testPy = "from app import app\n\n\ndef test_index():\n    assert app.test_client().get(\"/\").data == b\"hi\"\n"
	utilPy = "def slug(s):\n    return s.lower().replace(\" \", \"-\")\n"
)

// healthReply edits app.py and tests/test_api.py and creates HEALTH.md.
const healthReply = "I add the endpoint, its test and a note.\n\n" +
	"app.py\n```python\n<<<<<<< SEARCH\n@app.get(\"/\")\ndef index():\n    return \"hi\"\n=======\n@app.get(\"/\")\ndef index():\n    return \"hi\"\n\n\n@app.get(\"/health\")\ndef health():\n    return {\"ok\": True}\n>>>>>>> REPLACE\n```\n\n" +
	"tests/test_api.py\n```python\n<<<<<<< SEARCH\ndef test_index():\n=======\ndef test_health():\n    assert app.test_client().get(\"/health\").json == {\"ok\": True}\n\n\ndef test_index():\n>>>>>>> REPLACE\n```\n\n" +
	"HEALTH.md\n```\n<<<<<<< SEARCH\n=======\nGET /health answers {\"ok\": true}.\n>>>>>>> REPLACE\n```\n"

func TestChangeSetsEndToEnd(t *testing.T) {
	t.Parallel()
	model := llmtest.New(t,
		llmtest.Response{Text: healthReply, PromptTokens: 1000, CompletionTokens: 200},
		llmtest.Response{Text: "QUESTION: Which port should the server listen on?", PromptTokens: 500, CompletionTokens: 10},
		llmtest.Response{Text: "app.py\n```python\n<<<<<<< SEARCH\napp = Flask(__name__)\n=======\napp = Flask(__name__)\nPORT = 8080\n>>>>>>> REPLACE\n```\n",
			PromptTokens: 700, CompletionTokens: 30},
		llmtest.Response{Text: "Moving the helpers.\n\n<<<<<<< RENAME util.py -> helpers/text.py\n<<<<<<< DELETE HEALTH.md\n"},
	)
	w := newTGWorld(t, "local", model.URL, nil)
	w.want(w.post(w.msg("/start"), 1), "20 free credits")
	w.want(w.post(w.msg("/new app"), 1), "Project app created")
	w.want(w.post(w.upload("app.py", appPy), 1), "Added app.py")
	w.want(w.post(w.upload("tests/test_api.py", testPy), 1), "Added tests/test_api.py")
	w.want(w.post(w.upload("util.py", utilPy), 1), "Added util.py")
	w.want(w.post(w.msg("/add app.py"), 1), "Pinned app.py")

	// A request in plain words, no file open: one change set of the project.
	got := w.post(w.msg("add a /health endpoint and a test for it"), 2)
	w.want(got, "Working on app…", "✅ 3 files changed (3 credits", "app.py (+5)", "tests/test_api.py (+4)", "HEALTH.md (new, +1)")
	reqs := model.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d model calls, want 1", len(reqs))
	}
	system, user := reqs[0].Messages[0].Text(), reqs[0].Messages[len(reqs[0].Messages)-1].Text()
	for _, want := range []string{"<<<<<<< DELETE", "<<<<<<< RENAME", "QUESTION:"} {
		if !strings.Contains(system, want) {
			t.Errorf("the system prompt does not explain %q", want)
		}
	}
	for _, want := range []string{"util.py", "tests/test_api.py", "def index():", "add a /health endpoint"} {
		if !strings.Contains(user, want) {
			t.Errorf("the model's context lacks %q:\n%s", want, user)
		}
	}
	var changeSets, versions int
	w.scan(`SELECT count(*) FROM change_sets WHERE kind = 'refine'`, &changeSets)
	w.scan(`SELECT count(*) FROM file_versions v JOIN change_sets c ON c.id = v.change_set_id WHERE c.kind = 'refine'`, &versions)
	if changeSets != 1 || versions != 3 {
		t.Errorf("%d refine change sets with %d versions, want 1 with 3", changeSets, versions)
	}

	// History and a diff that git applies to the project as it was.
	w.want(w.post(w.msg("/history"), 1), "r4", "add a /health endpoint", "HEALTH.md (created)", "/diff r4")
	diff := preOf(t, w.post(w.msg("/diff r4"), 1))
	gitApplies(t, map[string]string{"app.py": appPy, "tests/test_api.py": testPy, "util.py": utilPy}, diff)

	// Undo reverts the whole change set; redo brings it back.
	var job int64
	w.scan(`SELECT max(id) FROM refine_jobs`, &job)
	w.want(w.post(w.tap("undo:"+itoa(job)), 1), "Undone: HEALTH.md, app.py and tests/test_api.py are back as they were")
	w.want(w.post(w.msg("/get app.py"), 1), "app.py")
	w.want(w.post(w.msg("/files"), 1), "app.py", "util.py")
	if docs := w.tg.Calls("sendDocument"); len(docs) == 0 || string(docs[len(docs)-1].Document) != appPy {
		t.Errorf("after undo app.py is not as it was")
	}
	if got := strings.Join(w.post(w.msg("/files"), 1), ""); strings.Contains(got, "HEALTH.md") {
		t.Errorf("after undo the created file is still listed: %s", got)
	}
	w.want(w.post(w.msg("/redo"), 1), "Redone: HEALTH.md, app.py and tests/test_api.py")
	w.want(w.post(w.msg("/undo"), 1), "Undone:")
	w.want(w.post(w.msg("/redo"), 1), "Redone:")

	// The model asks; the answer continues the conversation.
	w.want(w.post(w.msg("make the port configurable"), 2), "❓ Which port should the server listen on?")
	var asked int64
	var charged, prompt int
	w.scan(`SELECT id, charged_credits, prompt_tokens FROM refine_jobs WHERE question IS NOT NULL`, &asked, &charged, &prompt)
	if charged != 0 || prompt != 500 {
		t.Errorf("the question job charged %d credits and recorded %d prompt tokens, want 0 and 500", charged, prompt)
	}
	w.want(w.post(w.msg("8080"), 2), "✅ app.py changed", "app.py (+1)")
	reqs = model.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d model calls, want 3", len(reqs))
	}
	var thread []string
	for _, m := range reqs[2].Messages[1:] {
		thread = append(thread, m.Role+": "+m.Text())
	}
	joined := strings.Join(thread, "\n")
	if !strings.Contains(joined, "user: make the port configurable") || !strings.Contains(joined, "assistant: QUESTION: Which port") ||
		!strings.HasSuffix(strings.TrimSpace(joined), "8080") {
		t.Errorf("the answer's model call does not carry the thread:\n%s", joined)
	}
	var follows int64
	w.scan(`SELECT follows FROM refine_jobs WHERE id = (SELECT max(id) FROM refine_jobs)`, &follows)
	if follows != asked {
		t.Errorf("the answer's job follows %d, want %d", follows, asked)
	}

	// A rename and a deletion, then undone together.
	w.want(w.post(w.msg("move util.py into helpers/ and drop HEALTH.md"), 2), "✅ 2 files changed", "helpers/text.py (from util.py)", "HEALTH.md (deleted)")
	files := strings.Join(w.post(w.msg("/files"), 1), "")
	if strings.Contains(files, "HEALTH.md") || strings.Contains(files, "util.py\n") || !strings.Contains(files, "helpers/text.py") {
		t.Errorf("after the rename and deletion /files says %s", files)
	}
	w.want(w.post(w.msg("/undo"), 1), "Undone:", "util.py")
	files = strings.Join(w.post(w.msg("/files"), 1), "")
	if !strings.Contains(files, "HEALTH.md") || !strings.Contains(files, "util.py") || strings.Contains(files, "helpers/text.py") {
		t.Errorf("after the undo /files says %s", files)
	}
	var balance int
	w.scan(`SELECT balance FROM users`, &balance)
	// Each saved change costs the base 2 plus its tokens at $1 per million
	// (well under a credit, rounded up to 1); the question costs nothing.
	if balance != 20-3*3 {
		t.Errorf("balance %d after three saved changes and a question, want 11", balance)
	}
}

var preRE = regexp.MustCompile(`(?s)<pre>(.*?)</pre>`)

// preOf is the first <pre> block of the replies, unescaped.
func preOf(t *testing.T, replies []string) string {
	t.Helper()
	m := preRE.FindStringSubmatch(strings.Join(replies, "\n"))
	if m == nil {
		t.Fatalf("no <pre> in %q", replies)
	}
	return html.UnescapeString(m[1])
}

// gitApplies checks that git apply takes diff on a tree of files.
func gitApplies(t *testing.T, files map[string]string, diff string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	for p, c := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	patch := filepath.Join(t.TempDir(), "change.diff")
	if err := os.WriteFile(patch, []byte(diff), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("git", "apply", "--check", patch)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("git apply --check: %v\n%s\n%s", err, out, diff)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
