package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/devbot-hq/devbot/internal/telegram/telegramtest"
)

// replyTap serves a fake Telegram Bot API (telegramtest) and, as each
// message sent or edited arrives, wakes whoever expects it, so a
// refinement's webhook→reply time is measured without polling. Expectations
// are registered before the update is posted, so that no reply can come
// before its waiter, and are matched by text: many clients may wait in one
// chat at once (one project under load), each for the reply about its file.
type replyTap struct {
	fake *telegramtest.Server
	mu   sync.Mutex
	want map[int64][]*expectation
	last map[int64][]string // a chat's latest replies, for error messages
}

type expectation struct {
	chat int64
	text string // a reply containing it fulfils the expectation ("": any)
	done chan struct{}
}

func newReplyTap() *replyTap {
	return &replyTap{fake: telegramtest.NewHandler(telegramtest.Token), want: map[int64][]*expectation{}, last: map[int64][]string{}}
}

// expect registers a waiter for a reply in chat containing text.
func (t *replyTap) expect(chat int64, text string) *expectation {
	e := &expectation{chat: chat, text: text, done: make(chan struct{})}
	t.mu.Lock()
	t.want[chat] = append(t.want[chat], e)
	t.mu.Unlock()
	return e
}

func (t *replyTap) deliver(chat int64, text string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ws := t.want[chat]
	for i, e := range ws {
		if strings.Contains(text, e.text) {
			close(e.done)
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(t.want, chat)
	} else {
		t.want[chat] = ws
	}
	l := append(t.last[chat], text)
	if len(l) > 5 {
		l = l[len(l)-5:]
	}
	t.last[chat] = l
}

func (t *replyTap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var chat int64
	var text string
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") &&
		(strings.HasSuffix(r.URL.Path, "/sendMessage") || strings.HasSuffix(r.URL.Path, "/editMessageText")) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		var p struct {
			ChatID json.Number `json:"chat_id"`
			Text   string      `json:"text"`
		}
		if json.Unmarshal(body, &p) == nil {
			chat, _ = p.ChatID.Int64()
			text = p.Text
		}
	}
	t.fake.ServeHTTP(w, r)
	if chat != 0 {
		t.deliver(chat, text)
	}
}

// wait waits for e's reply.
func (t *replyTap) wait(ctx context.Context, e *expectation, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-e.done:
		return nil
	case <-timer.C:
		t.mu.Lock()
		seen := t.last[e.chat]
		t.mu.Unlock()
		return fmt.Errorf("chat %d: no reply saying %q within %v (latest replies: %q)", e.chat, e.text, timeout, seen)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// poster posts updates to the stack's webhook as Telegram would.
type poster struct {
	url, secret string
	hc          *http.Client
	next        atomic.Int64
}

func (p *poster) post(ctx context.Context, update map[string]any) error {
	update["update_id"] = p.next.Add(1)
	body, _ := json.Marshal(update)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/TelegramWebhook", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Telegram-Bot-Api-Secret-Token", p.secret)
	resp, err := p.hc.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the webhook answered %s", resp.Status)
	}
	return nil
}

func (p *poster) message(chat int64, m map[string]any) map[string]any {
	m["message_id"] = p.next.Add(1)
	m["date"] = time.Now().Unix()
	m["from"] = map[string]any{"id": chat, "is_bot": false, "first_name": "Bench", "language_code": "en"}
	m["chat"] = map[string]any{"id": chat, "type": "private", "first_name": "Bench"}
	return map[string]any{"message": m}
}

func (p *poster) text(ctx context.Context, chat int64, text string) error {
	m := map[string]any{"text": text}
	if strings.HasPrefix(text, "/") {
		cmd, _, _ := strings.Cut(text, " ")
		cmd, _, _ = strings.Cut(cmd, "\n")
		m["entities"] = []map[string]any{{"offset": 0, "length": len(cmd), "type": "bot_command"}}
	}
	return p.post(ctx, p.message(chat, m))
}

// upload posts a document with path as its caption, as a user sending a
// file does; the fake Bot API serves its content.
func (p *poster) upload(ctx context.Context, tap *replyTap, chat int64, path string, content []byte) error {
	id := tap.fake.AddFile(content)
	doc := map[string]any{"document": map[string]any{"file_id": id, "file_unique_id": "u" + id,
		"file_name": path[strings.LastIndex(path, "/")+1:], "mime_type": "text/plain", "file_size": len(content)}, "caption": path}
	return p.post(ctx, p.message(chat, doc))
}
