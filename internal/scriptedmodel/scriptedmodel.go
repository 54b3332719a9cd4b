// Package scriptedmodel is a model with canned answers, built in: an
// http.Handler speaking the OpenAI chat completions wire format (the one
// internal/llm calls), so that `devbot dev --model=scripted` and `devbot
// demo` can play a whole /build with no network and no key.
//
// It is not a language model and says so: its model name is
// ModelName, every README it writes says it was scripted, and a request it
// has no script for (a plain /refine) is answered with a QUESTION: line
// that says what it is, which the bot shows and charges nothing for.
//
// # The script
//
// Whatever the description, it builds the same small app, todo-api: a Go
// JSON API for one shared todo list kept in memory, with the standard
// library only (go.mod, main.go, store.go, handlers.go and their tests).
//
//   - questions: one question (keep the todos in memory, or in a file?).
//   - spec: three tasks (the server skeleton; the in-memory store; the
//     todo endpoints), each listing its files. A revision answers the same
//     spec.
//   - editor: the SEARCH/REPLACE blocks of the task the instruction names
//     ("Implement task N of M of the plan: ..."); when the instruction
//     carries the review's rejection ("the review rejected it"), the fix
//     of what it asked. "Write README.md ..." gets the README.
//   - verdict: approve, except task 2 while its change does not lock the
//     store's mutex: its first round leaves the store unguarded, so the
//     first review rejects it with one concrete reason, and the fix, which
//     adds the lock, is approved.
//
// Every decision is read from the request itself (the task number and the
// feedback in the instruction, the diff under review, the project map),
// never from the handler's memory: the handler keeps no state, so a build
// goes on across restarts and redeliveries, and two builds at once do not
// disturb each other.
package scriptedmodel

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ModelName is the model the handler answers as, whatever was asked for.
const ModelName = "devbot-scripted"

// Handler answers POST …/chat/completions (at any prefix, so it can be
// mounted as …/v1) and GET …/models. Any bearer key is accepted.
func Handler() http.Handler { return http.HandlerFunc(serve) }

// request is the part of a chat completions request the script reads.
type request struct {
	Model          string          `json:"model"`
	Messages       []Message       `json:"messages"`
	ResponseFormat *responseFormat `json:"response_format"`
}

type responseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *jsonSchema `json:"json_schema"`
}

type jsonSchema struct {
	Name string `json:"name"`
}

// Message is a chat message as an OpenAI-compatible endpoint receives it
// (llmtest's fake reads them the same way).
type Message struct {
	Role    string `json:"role"`
	Content any    `json:"content"` // a string, or parts with text
}

// Text is a message's text, whether sent as a string or as parts.
func (m Message) Text() string {
	switch c := m.Content.(type) {
	case string:
		return c
	case []any:
		var b strings.Builder
		for _, p := range c {
			if part, ok := p.(map[string]any); ok {
				if s, ok := part["text"].(string); ok {
					b.WriteString(s)
				}
			}
		}
		return b.String()
	}
	return ""
}

// format is the response_format's json_schema name, "" when the request
// asks for plain text (the editor).
func (r request) format() string {
	if r.ResponseFormat == nil || r.ResponseFormat.JSONSchema == nil {
		return ""
	}
	return r.ResponseFormat.JSONSchema.Name
}

// lastUser is the newest user message that contains marker, else the
// newest user message.
func (r request) lastUser(marker string) string {
	last := ""
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role != "user" {
			continue
		}
		t := r.Messages[i].Text()
		if last == "" {
			last = t
		}
		if marker != "" && strings.Contains(t, marker) {
			return t
		}
	}
	return last
}

func serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/models"):
		writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []any{
			map[string]any{"id": ModelName, "object": "model", "created": 0, "owned_by": "devbot"}}})
		return
	case r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/chat/completions"):
		writeError(w, http.StatusNotFound, "the scripted model serves POST /v1/chat/completions only")
		return
	}
	var req request
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "the request is not JSON: "+err.Error())
		return
	}
	if len(req.Messages) == 0 {
		writeError(w, http.StatusBadRequest, "the request has no messages")
		return
	}
	text, err := answer(req)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	prompt := 0
	for _, m := range req.Messages {
		prompt += tokens(m.Text())
	}
	completion := tokens(text)
	sum := sha256.Sum256([]byte(text))
	writeJSON(w, http.StatusOK, map[string]any{
		"id": "chatcmpl-scripted-" + hex.EncodeToString(sum[:8]), "object": "chat.completion",
		"created": time.Now().Unix(), "model": ModelName,
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": text}}},
		"usage": map[string]any{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
	})
}

// tokens estimates a text's tokens as models count them: about four
// characters each.
func tokens(s string) int { return (len(s) + 3) / 4 }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": "invalid_request_error", "code": status}})
}

// answer is the scripted answer to a request.
func answer(req request) (string, error) {
	switch f := req.format(); f {
	case "questions":
		return marshal(map[string]any{"questions": []string{Question}}), nil
	case "spec":
		return marshal(spec), nil
	case "verdict":
		return verdict(req.lastUser("The task to review:")), nil
	case "":
		return edit(req), nil
	default:
		return "", fmt.Errorf("the scripted model has no answer of the format %q (it knows questions, spec and verdict)", f)
	}
}

func marshal(v any) string {
	b, err := json.Marshal(v)
	if err != nil { // cannot be: maps, slices and strings
		panic(err)
	}
	return string(b)
}

var reviewedTask = regexp.MustCompile(`The task to review: task (\d+)\b`)

// verdict reviews a task's change: approved, except the store task while
// its change takes no lock.
func verdict(turn string) string {
	n := 0
	if m := reviewedTask.FindStringSubmatch(turn); m != nil {
		n, _ = strconv.Atoi(m[1])
	}
	if n == storeTask && !strings.Contains(turn, lockLine) {
		return marshal(map[string]any{"approve": false, "reasons": []string{RejectReason}})
	}
	return marshal(map[string]any{"approve": true, "reasons": []string{}})
}

var (
	taskLine = regexp.MustCompile(`Implement task (\d+) of (\d+) of the plan`)
	mapLine  = func(path string) *regexp.Regexp { return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(path) + ` \(`) }
)

// edit answers the editor: a task's blocks, the fix the review asked for,
// the README, or, for a request that is not the build's, a question that
// says what this model is.
func edit(req request) string {
	if turn := req.lastUser("Implement task "); taskLine.MatchString(turn) {
		m := taskLine.FindStringSubmatch(turn)
		n, _ := strconv.Atoi(m[1])
		rejected := strings.Contains(turn, "the review rejected it")
		if reply, ok := taskReply(n, rejected); ok {
			return reply
		}
		return "QUESTION: " + fmt.Sprintf("The scripted model's plan has tasks 1 to %d; it has no blocks for task %d. ", len(spec.Tasks), n) + Unscripted
	}
	if turn := req.lastUser("Write README.md"); strings.Contains(turn, "Write README.md") {
		if mapLine("README.md").MatchString(turn) {
			return readmeReplace
		}
		return readmeCreate
	}
	return "QUESTION: " + Unscripted
}

// Unscripted is what the model says to a request that is not part of its
// script: a plain /refine.
const Unscripted = "I am devbot's built-in scripted model (no network, canned answers for the demo build), " +
	"so I cannot make this change. Would you send it as SEARCH/REPLACE blocks instead, " +
	"or run devbot dev with a real model (LLM_API_KEY)?"
