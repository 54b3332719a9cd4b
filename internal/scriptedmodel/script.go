package scriptedmodel

import (
	"fmt"
	"strings"
)

// Question is the one question the architect asks.
const Question = "Should the todos be kept in memory (gone when the server stops) or saved to a file?"

// specT and taskT are a spec as the architect answers it (build.Spec's
// JSON).
type specT struct {
	Title   string   `json:"title"`
	Summary string   `json:"summary"`
	Stack   []string `json:"stack"`
	Tasks   []taskT  `json:"tasks"`
}

type taskT struct {
	Title    string   `json:"title"`
	Does     string   `json:"does"`
	Files    []string `json:"files"`
	DoneWhen string   `json:"done_when"`
}

// Title is the app's title, as the spec names it (the zip is Title.zip).
const Title = "todo-api"

var spec = specT{
	Title:   Title,
	Summary: "A small JSON API for one shared todo list, in Go with the standard library only; the todos are kept in memory.",
	Stack:   []string{"Go 1.22 (net/http, encoding/json)", "go test"},
	Tasks: []taskT{
		{Title: "Server skeleton", Does: "A Go module with an HTTP server on $PORT (default 8080) whose routes are set up in newMux; GET /health answers {\"ok\":true}.",
			Files:    []string{"go.mod", "main.go"},
			DoneWhen: "go build succeeds; main.go listens on $PORT or 8080; GET /health answers 200 with {\"ok\":true}."},
		{Title: "In-memory todo store", Does: "A Store that adds, lists and marks todos done, in memory, safe for concurrent use (handlers run on many goroutines), with tests.",
			Files:    []string{"store.go", "store_test.go"},
			DoneWhen: "Store.Add, Store.List and Store.MarkDone work and hold a mutex; store_test.go covers them and concurrent adds."},
		{Title: "Todo endpoints", Does: "GET /todos lists the todos, POST /todos {\"title\": ...} adds one (201), POST /todos/{id}/done marks one done (404 when unknown), with tests.",
			Files:    []string{"handlers.go", "handlers_test.go", "main.go"},
			DoneWhen: "newMux routes the three endpoints to the store; handlers_test.go covers adding, listing, marking done and an unknown id."},
	},
}

// SpecFiles are the files the spec's tasks list, in the order they first
// appear.
func SpecFiles() []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range spec.Tasks {
		for _, f := range t.Files {
			if !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	return out
}

// The task whose first round the review rejects, the line its fix adds,
// and the reason.
const (
	storeTask    = 2
	lockLine     = "s.mu.Lock()"
	RejectReason = "store.go, Store.Add, Store.List and Store.MarkDone: the todos slice and nextID are read and written " +
		"without a lock, but net/http runs each request on its own goroutine, so concurrent requests race; " +
		"done_when asks for a store that holds a mutex: add a sync.Mutex to Store and lock it in each method, " +
		"and cover concurrent adds in store_test.go."
)

// taskReply is the editor's reply for task n (its fix when rejected).
func taskReply(n int, rejected bool) (string, bool) {
	switch {
	case n == 1:
		return "The skeleton: a module and a server whose routes newMux sets up, with GET /health.\n\n" +
			create("go.mod", "", goMod) + create("main.go", "go", mainGo), true
	case n == 2 && rejected:
		return "The store now holds a mutex in every method, and a test adds from many goroutines.\n\n" +
			change("store.go", "go", "import \"errors\"\n", "import (\n\t\"errors\"\n\t\"sync\"\n)\n") +
			change("store.go", "go", "type Store struct {\n", "type Store struct {\n\tmu     sync.Mutex // guards the fields below: handlers run concurrently\n") +
			change("store.go", "go", "func (s *Store) Add(title string) Todo {\n", "func (s *Store) Add(title string) Todo {\n\ts.mu.Lock()\n\tdefer s.mu.Unlock()\n") +
			change("store.go", "go", "func (s *Store) List() []Todo {\n", "func (s *Store) List() []Todo {\n\ts.mu.Lock()\n\tdefer s.mu.Unlock()\n") +
			change("store.go", "go", "func (s *Store) MarkDone(id int) (Todo, error) {\n", "func (s *Store) MarkDone(id int) (Todo, error) {\n\ts.mu.Lock()\n\tdefer s.mu.Unlock()\n") +
			change("store_test.go", "go", "import \"testing\"\n", "import (\n\t\"sync\"\n\t\"testing\"\n)\n") +
			create("store_test.go", "go", storeConcurrentTest), true
	case n == 2:
		return "The store keeps the todos in a slice, in the order they were added, with tests.\n\n" +
			create("store.go", "go", storeGo) + create("store_test.go", "go", storeTestGo), true
	case n == 3:
		return "The three endpoints, routed by newMux to one store made in main, with a test of each.\n\n" +
			create("handlers.go", "go", handlersGo) + create("handlers_test.go", "go", handlersTestGo) +
			change("main.go", "go", "\tlog.Fatal(http.ListenAndServe(addr, newMux()))\n", "\tlog.Fatal(http.ListenAndServe(addr, newMux(NewStore())))\n") +
			change("main.go", "go", "func newMux() *http.ServeMux {\n", "func newMux(s *Store) *http.ServeMux {\n") +
			change("main.go", "go", "\treturn mux\n", "\tmux.HandleFunc(\"GET /todos\", listTodos(s))\n\tmux.HandleFunc(\"POST /todos\", addTodo(s))\n\tmux.HandleFunc(\"POST /todos/{id}/done\", markDone(s))\n\treturn mux\n"), true
	}
	return "", false
}

// create is a block that creates path (an empty SEARCH; on a file that
// exists it adds to the end).
func create(path, lang, content string) string { return change(path, lang, "", content) }

// change is a SEARCH/REPLACE block of path.
func change(path, lang, search, replace string) string {
	return fmt.Sprintf("%s\n```%s\n<<<<<<< SEARCH\n%s=======\n%s>>>>>>> REPLACE\n```\n\n", path, lang, search, replace)
}

var (
	readmeCreate  = "README.md, as the plan and the code stand.\n\n" + create("README.md", "markdown", readmeMd)
	readmeReplace = "README.md, rewritten as the plan and the code stand.\n\n<<<<<<< DELETE README.md\n\n" + create("README.md", "markdown", readmeMd)
)

const goMod = `module example.com/todo-api

go 1.22
`

const mainGo = `// Command todo-api serves a small JSON API for one shared todo list, kept
// in memory.
package main

import (
	"log"
	"net/http"
	"os"
)

func main() {
	addr := ":" + port()
	log.Printf("todo-api listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, newMux()))
}

// port is $PORT, or 8080.
func port() string {
	if p := os.Getenv("PORT"); p != "" {
		return p
	}
	return "8080"
}

// newMux routes the API's requests.
func newMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{\"ok\":true}\n"))
	})
	return mux
}
`

const storeGo = `package main

import "errors"

// Todo is one item of the list.
type Todo struct {
	ID    int    ` + "`json:\"id\"`" + `
	Title string ` + "`json:\"title\"`" + `
	Done  bool   ` + "`json:\"done\"`" + `
}

// ErrNotFound is a todo id the store does not hold.
var ErrNotFound = errors.New("no such todo")

// Store keeps the todos in memory, in the order they were added.
type Store struct {
	todos  []Todo
	nextID int
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{nextID: 1} }

// Add stores a new todo and returns it.
func (s *Store) Add(title string) Todo {
	t := Todo{ID: s.nextID, Title: title}
	s.nextID++
	s.todos = append(s.todos, t)
	return t
}

// List returns the todos, oldest first.
func (s *Store) List() []Todo {
	return append([]Todo{}, s.todos...)
}

// MarkDone marks the todo id done and returns it.
func (s *Store) MarkDone(id int) (Todo, error) {
	for i := range s.todos {
		if s.todos[i].ID == id {
			s.todos[i].Done = true
			return s.todos[i], nil
		}
	}
	return Todo{}, ErrNotFound
}
`

const storeTestGo = `package main

import "testing"

func TestStoreAddListMarkDone(t *testing.T) {
	s := NewStore()
	a, b := s.Add("buy milk"), s.Add("write tests")
	if a.ID != 1 || b.ID != 2 {
		t.Fatalf("ids %d and %d, want 1 and 2", a.ID, b.ID)
	}
	if _, err := s.MarkDone(b.ID); err != nil {
		t.Fatal(err)
	}
	got := s.List()
	if len(got) != 2 || got[0].Done || !got[1].Done || got[1].Title != "write tests" {
		t.Fatalf("List() = %+v", got)
	}
	if _, err := s.MarkDone(99); err != ErrNotFound {
		t.Fatalf("MarkDone(99) = %v, want ErrNotFound", err)
	}
}
`

const storeConcurrentTest = `
func TestStoreConcurrentAdd(t *testing.T) {
	s := NewStore()
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Add("todo")
		}()
	}
	wg.Wait()
	if n := len(s.List()); n != 50 {
		t.Fatalf("%d todos, want 50", n)
	}
}
`

const handlersGo = `package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// listTodos answers GET /todos: every todo, oldest first.
func listTodos(s *Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.List())
	}
}

// addTodo answers POST /todos {"title": "..."} with the new todo (201).
func addTodo(s *Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Title string ` + "`json:\"title\"`" + `
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || strings.TrimSpace(in.Title) == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "send {\"title\": \"...\"}"})
			return
		}
		writeJSON(w, http.StatusCreated, s.Add(strings.TrimSpace(in.Title)))
	}
}

// markDone answers POST /todos/{id}/done with the todo, marked done.
func markDone(s *Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.PathValue("id"))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the id is a number"})
			return
		}
		t, err := s.MarkDone(id)
		if errors.Is(err, ErrNotFound) {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, t)
	}
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
`

const handlersTestGo = `package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestTodoEndpoints(t *testing.T) {
	srv := httptest.NewServer(newMux(NewStore()))
	defer srv.Close()
	call := func(method, path, body string, want int) string {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != want {
			t.Fatalf("%s %s: %s %s, want %d", method, path, res.Status, b, want)
		}
		return string(b)
	}
	call("GET", "/health", "", http.StatusOK)
	call("POST", "/todos", ` + "`{\"title\":\"buy milk\"}`" + `, http.StatusCreated)
	call("POST", "/todos", ` + "`{\"title\":\"\"}`" + `, http.StatusBadRequest)
	call("POST", "/todos/1/done", "", http.StatusOK)
	call("POST", "/todos/7/done", "", http.StatusNotFound)
	if got := call("GET", "/todos", "", http.StatusOK); !strings.Contains(got, ` + "`\"title\":\"buy milk\",\"done\":true`" + `) {
		t.Fatalf("GET /todos = %s", got)
	}
}
`

var readmeMd = strings.ReplaceAll(`# todo-api

A small JSON API for one shared todo list, in Go with the standard library only. The todos are
kept in memory: they are gone when the server stops.

(Written by devbot's built-in scripted model, which plays the demo build with canned answers.)

## Run

    go run .

It listens on $PORT (default 8080):

    curl -s localhost:8080/todos
    curl -s -X POST localhost:8080/todos -d '{"title":"buy milk"}'
    curl -s -X POST localhost:8080/todos/1/done

## Test

    go test ./...

## Files

- |go.mod|: the module (Go 1.22, no dependencies).
- |main.go|: the server; |newMux| routes |GET /health| and the todo endpoints.
- |store.go|: the in-memory store, safe for concurrent use.
- |handlers.go|: |GET /todos|, |POST /todos| and |POST /todos/{id}/done|.
- |store_test.go|, |handlers_test.go|: the tests.
`, "|", "`")
