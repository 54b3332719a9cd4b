// Package telegramtest is a fake Telegram Bot API server for tests: it
// speaks the real wire format (JSON or multipart requests, the ok/result
// envelope, error_code and parameters.retry_after), records every call,
// serves files for getFile and the download path, and can be told to fail.
package telegramtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Token is the bot token the fake accepts unless told otherwise.
const Token = "123456:TEST-token_abcdefghijklmnopqrstuv"

// Username is the bot's username that getMe answers (without the @).
const Username = "devbot_test_bot"

// Call is one recorded API call.
type Call struct {
	Method string
	// Params holds the request's fields (JSON values re-encoded as strings
	// for scalars; reply_markup as its JSON text).
	Params map[string]string
	// Document is the uploaded file of sendDocument.
	Document     []byte
	DocumentName string
}

// ChatID parses the chat_id parameter.
func (c Call) ChatID() int64 {
	n, _ := strconv.ParseInt(c.Params["chat_id"], 10, 64)
	return n
}

// Text returns the message text (sendMessage) or caption (sendDocument).
func (c Call) Text() string {
	if t, ok := c.Params["text"]; ok {
		return t
	}
	return c.Params["caption"]
}

type failure struct {
	code       int
	desc       string
	retryAfter int
}

// Server is the fake.
type Server struct {
	*httptest.Server
	Token string

	mu     sync.Mutex
	calls  []Call
	files  map[string][]byte // file_id -> content
	fails  map[string][]failure
	nextID int64
	notify chan struct{}
	// msgs are the messages the bot sent and can still edit, per chat
	// (created on first use, so that both constructors stay as they are).
	msgs map[int64]map[int64]shown
	// said is what the chats were told, in order: messages and documents
	// sent, and successful edits.
	said []Call
}

// shown is a message as the chat shows it now.
type shown struct{ text, markup string }

// New starts a fake server, closed at the end of the test.
func New(tb testing.TB) *Server {
	s := &Server{Token: Token, files: map[string][]byte{}, fails: map[string][]failure{}, nextID: 1000,
		notify: make(chan struct{}, 1)}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(s.Close)
	return s
}

// AddFile stores content that getFile and the download path serve, and
// returns its file_id.
func (s *Server) AddFile(content []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	id := fmt.Sprintf("file-%d", s.nextID)
	s.files[id] = content
	return id
}

// Fail makes the next call of method answer code with description (and
// retry_after seconds when > 0). Several calls queue up.
func (s *Server) Fail(method string, code int, description string, retryAfter int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails[method] = append(s.fails[method], failure{code, description, retryAfter})
}

// Calls returns the recorded calls, optionally only those of methods.
func (s *Server) Calls(methods ...string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if len(methods) == 0 || contains(methods, c.Method) {
			out = append(out, c)
		}
	}
	return out
}

// Sent returns the messages and documents sent to chatID, in order.
func (s *Server) Sent(chatID int64) []Call {
	var out []Call
	for _, c := range s.Calls("sendMessage", "sendDocument") {
		if c.ChatID() == chatID {
			out = append(out, c)
		}
	}
	return out
}

// WaitSent waits until at least n messages or documents went to chatID and
// returns them; it fails the test after timeout.
func (s *Server) WaitSent(tb testing.TB, chatID int64, n int, timeout time.Duration) []Call {
	tb.Helper()
	return s.wait(tb, chatID, n, timeout, s.Sent, "messages")
}

// wait polls get until it returns at least n calls for chatID, woken by
// every recorded call; it fails the test after timeout, naming what came.
func (s *Server) wait(tb testing.TB, chatID int64, n int, timeout time.Duration, get func(int64) []Call, what string) []Call {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := get(chatID)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			var texts []string
			for _, c := range got {
				texts = append(texts, c.Text())
			}
			tb.Fatalf("telegramtest: %d of %d %s to chat %d after %s: %q", len(got), n, what, chatID, timeout, texts)
		}
		select {
		case <-s.notify:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, f failure) {
	body := map[string]any{"ok": false, "error_code": f.code, "description": f.desc}
	if f.retryAfter > 0 {
		body["parameters"] = map[string]int{"retry_after": f.retryAfter}
	}
	writeJSON(w, f.code, body)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if rest, ok := strings.CutPrefix(r.URL.Path, "/file/bot"+s.Token+"/"); ok {
		s.download(w, rest)
		return
	}
	method, ok := strings.CutPrefix(r.URL.Path, "/bot"+s.Token+"/")
	if !ok {
		writeError(w, failure{code: 401, desc: "Unauthorized"})
		return
	}
	call := Call{Method: method, Params: map[string]string{}}
	if err := readParams(r, &call); err != nil {
		writeError(w, failure{code: 400, desc: "Bad Request: " + err.Error()})
		return
	}
	s.mu.Lock()
	if q := s.fails[method]; len(q) > 0 {
		f := q[0]
		s.fails[method] = q[1:]
		s.mu.Unlock()
		writeError(w, f)
		return
	}
	s.calls = append(s.calls, call)
	s.nextID++
	id := s.nextID
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
	switch method {
	case "sendMessage", "sendDocument":
		if method == "sendMessage" && (call.Params["text"] == "" || utf16Len(call.Params["text"]) > 4096) {
			writeError(w, failure{code: 400, desc: "Bad Request: message text is empty or too long"})
			return
		}
		chat, _ := strconv.ParseInt(call.Params["chat_id"], 10, 64)
		s.remember(chat, id, call)
		writeJSON(w, 200, map[string]any{"ok": true, "result": map[string]any{
			"message_id": id, "date": time.Now().Unix(), "chat": map[string]any{"id": chat, "type": "private"},
			"text": call.Params["text"]}})
	case "editMessageText":
		s.editMessageText(w, call)
	case "sendChatAction":
		if !validActions[call.Params["action"]] {
			writeError(w, failure{code: 400, desc: "Bad Request: wrong parameter action in request"})
			return
		}
		writeJSON(w, 200, map[string]any{"ok": true, "result": true})
	case "deleteMessage":
		chat, _ := strconv.ParseInt(call.Params["chat_id"], 10, 64)
		msg, _ := strconv.ParseInt(call.Params["message_id"], 10, 64)
		s.mu.Lock()
		delete(s.msgs[chat], msg)
		s.mu.Unlock()
		writeJSON(w, 200, map[string]any{"ok": true, "result": true})
	case "getMe":
		writeJSON(w, 200, map[string]any{"ok": true, "result": map[string]any{
			"id": 123456, "is_bot": true, "first_name": "devbot", "username": Username,
			"can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false}})
	case "getFile":
		s.mu.Lock()
		content, ok := s.files[call.Params["file_id"]]
		s.mu.Unlock()
		if !ok {
			writeError(w, failure{code: 400, desc: "Bad Request: invalid file_id"})
			return
		}
		writeJSON(w, 200, map[string]any{"ok": true, "result": map[string]any{
			"file_id": call.Params["file_id"], "file_unique_id": "u" + call.Params["file_id"],
			"file_size": len(content), "file_path": "documents/" + call.Params["file_id"] + ".txt"}})
	default:
		writeJSON(w, 200, map[string]any{"ok": true, "result": true})
	}
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

func (s *Server) download(w http.ResponseWriter, filePath string) {
	id := strings.TrimSuffix(strings.TrimPrefix(filePath, "documents/"), ".txt")
	s.mu.Lock()
	content, ok := s.files[id]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, nil)
		return
	}
	_, _ = w.Write(content)
}

func readParams(r *http.Request, call *Call) error {
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/json"):
		var raw map[string]json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
			return err
		}
		for k, v := range raw {
			var s string
			if json.Unmarshal(v, &s) == nil {
				call.Params[k] = s
			} else {
				call.Params[k] = string(v)
			}
		}
	case strings.HasPrefix(ct, "multipart/form-data"):
		if err := r.ParseMultipartForm(64 << 20); err != nil {
			return err
		}
		for k, v := range r.MultipartForm.Value {
			call.Params[k] = v[0]
		}
		if fh := r.MultipartForm.File["document"]; len(fh) > 0 {
			f, err := fh[0].Open()
			if err != nil {
				return err
			}
			defer f.Close()
			data, err := io.ReadAll(f)
			if err != nil {
				return err
			}
			call.Document, call.DocumentName = data, fh[0].Filename
		}
	default:
		if err := r.ParseForm(); err != nil {
			return err
		}
		for k, v := range r.Form {
			call.Params[k] = v[0]
		}
	}
	return nil
}
