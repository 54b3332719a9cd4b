// Package llmtest is a fake OpenAI-compatible chat completions endpoint
// for tests: it speaks the real wire format, answers from a script, and
// records what it received.
package llmtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/devbot-hq/devbot/internal/scriptedmodel"
)

// Response is one scripted answer. A zero Status is 200 with Text.
type Response struct {
	Status  int
	Text    string
	Headers map[string]string
	// Body is the raw body of an error (default: an OpenAI error object).
	// Every EchoAuth in it is replaced by the request's bearer token, as
	// servers that quote the key they refused do.
	Body string
	// Usage reported with a 200 (defaults: 100 prompt, 20 completion).
	PromptTokens, CompletionTokens int
	// FinishReason of a 200 (default "stop"; "length" is a cut-off answer).
	FinishReason string
	// Refusal, when set, is sent as the message's refusal (structured
	// outputs' way of declining).
	Refusal string
}

// EchoAuth, in a Response's Body, stands for the bearer token received.
const EchoAuth = "{{AUTH}}"

// Request is what the server received.
type Request struct {
	Auth     string // the Authorization header
	Model    string
	Messages []Message
	// ResponseFormat is the request's response_format, nil when it had
	// none.
	ResponseFormat *ResponseFormat
}

// ResponseFormat is a request's response_format as received.
type ResponseFormat struct {
	Type       string      `json:"type"` // "json_schema", "json_object" or "text"
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
	// Raw is the response_format exactly as sent.
	Raw json.RawMessage `json:"-"`
}

// JSONSchema is the json_schema of a response_format.
type JSONSchema struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Strict      *bool          `json:"strict,omitempty"` // nil when not sent
	Schema      map[string]any `json:"schema,omitempty"`
}

// Message is a chat message as received.
type Message = scriptedmodel.Message

// Server is the fake endpoint. URL is its base URL (like .../v1).
type Server struct {
	URL string

	mu       sync.Mutex
	script   []Response
	requests []Request
	t        testing.TB
}

// New starts a server answering with script, in order; past its end it
// answers 500. It closes with the test.
func New(t testing.TB, script ...Response) *Server {
	s := &Server{script: script, t: t}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/v1"
	return s
}

// Requests returns what was received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		http.Error(w, `{"error":{"message":"no such route","type":"invalid_request_error"}}`, http.StatusNotFound)
		return
	}
	var body struct {
		Model          string          `json:"model"`
		Messages       []Message       `json:"messages"`
		ResponseFormat json.RawMessage `json:"response_format"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, `{"error":{"message":"bad json"}}`, http.StatusBadRequest)
		return
	}
	var rf *ResponseFormat
	if len(body.ResponseFormat) > 0 && string(body.ResponseFormat) != "null" {
		rf = &ResponseFormat{Raw: body.ResponseFormat}
		if err := json.Unmarshal(body.ResponseFormat, rf); err != nil {
			http.Error(w, `{"error":{"message":"bad response_format"}}`, http.StatusBadRequest)
			return
		}
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Auth: r.Header.Get("Authorization"), Model: body.Model, Messages: body.Messages, ResponseFormat: rf})
	var resp Response
	if len(s.script) > 0 {
		resp, s.script = s.script[0], s.script[1:]
	} else {
		resp = Response{Status: http.StatusInternalServerError, Body: `{"error":{"message":"script exhausted"}}`}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	if resp.Status != 0 && resp.Status != http.StatusOK {
		w.WriteHeader(resp.Status)
		b := resp.Body
		if b == "" {
			b = fmt.Sprintf(`{"error":{"message":%q,"type":"error","code":%d}}`, http.StatusText(resp.Status), resp.Status)
		}
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		fmt.Fprint(w, strings.ReplaceAll(b, EchoAuth, token))
		return
	}
	pt, ct := resp.PromptTokens, resp.CompletionTokens
	if pt == 0 && ct == 0 {
		pt, ct = 100, 20
	}
	finish := resp.FinishReason
	if finish == "" {
		finish = "stop"
	}
	msg := map[string]any{"role": "assistant", "content": resp.Text}
	if resp.Refusal != "" {
		msg["refusal"] = resp.Refusal
	}
	out := map[string]any{
		"id": "chatcmpl-test", "object": "chat.completion", "created": 1700000000, "model": body.Model,
		"choices": []any{map[string]any{"index": 0, "finish_reason": finish, "message": msg}},
		"usage":   map[string]any{"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct},
	}
	if err := json.NewEncoder(w).Encode(out); err != nil {
		s.t.Errorf("llmtest: %v", err)
	}
}
