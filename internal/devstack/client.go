package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Client plays a Telegram user against a running stack: it posts updates to
// the real webhook endpoint with the right secret, as Telegram would, and
// reads the bot's replies back from the fake Bot API.
type Client struct {
	URL           string
	WebhookSecret string
	HTTP          *http.Client

	nextUpdate atomic.Int64
	nextMsg    atomic.Int64
}

// NewClient returns a client for the stack at url.
func NewClient(url, secret string) *Client {
	c := &Client{URL: strings.TrimRight(url, "/"), WebhookSecret: secret, HTTP: &http.Client{Timeout: 30 * time.Second}}
	// Update ids only need to be unique per bot: start from the clock so
	// that runs against one long-lived stack never collide.
	c.nextUpdate.Store(time.Now().UnixMilli() % 1e12)
	c.nextMsg.Store(time.Now().Unix() % 1e6)
	return c
}

// User is who the client speaks as.
type User struct {
	ID        int64
	FirstName string
	Username  string
}

func (u User) json() map[string]any {
	return map[string]any{"id": u.ID, "is_bot": false, "first_name": u.FirstName, "username": u.Username, "language_code": "en"}
}

func (c *Client) message(u User) map[string]any {
	return map[string]any{
		"message_id": c.nextMsg.Add(1), "from": u.json(), "date": time.Now().Unix(),
		"chat": map[string]any{"id": u.ID, "type": "private", "first_name": u.FirstName},
	}
}

// SendText sends a text message; a leading /command gets its entity.
func (c *Client) SendText(ctx context.Context, u User, text string) (updateID int64, err error) {
	m := c.message(u)
	m["text"] = text
	if strings.HasPrefix(text, "/") {
		cmd, _, _ := strings.Cut(text, " ")
		cmd, _, _ = strings.Cut(cmd, "\n")
		m["entities"] = []map[string]any{{"offset": 0, "length": len([]rune(cmd)), "type": "bot_command"}}
	}
	return c.post(ctx, map[string]any{"message": m})
}

// SendDocument uploads data into the fake Bot API and sends it as a
// document with an optional caption.
func (c *Client) SendDocument(ctx context.Context, u User, name string, data []byte, caption string) (int64, error) {
	var up struct {
		FileID string `json:"file_id"`
	}
	if err := c.do(ctx, http.MethodPost, "/_dev/file", bytes.NewReader(data), &up); err != nil {
		return 0, fmt.Errorf("uploading %s to the fake Bot API: %w", name, err)
	}
	m := c.message(u)
	m["document"] = map[string]any{"file_id": up.FileID, "file_unique_id": "u" + up.FileID, "file_name": name,
		"mime_type": "text/plain", "file_size": len(data)}
	if caption != "" {
		m["caption"] = caption
	}
	return c.post(ctx, map[string]any{"message": m})
}

// Press taps an inline button whose callback data is data.
func (c *Client) Press(ctx context.Context, u User, data string) (int64, error) {
	msg := c.message(u)
	msg["text"] = "(the message with the button)"
	return c.post(ctx, map[string]any{"callback_query": map[string]any{
		"id": fmt.Sprint(c.nextMsg.Add(1)), "from": u.json(), "message": msg, "chat_instance": "1", "data": data}})
}

// PressOn taps the inline button carrying data on the bot's message m, as
// Telegram reports a tap: the callback query holds that message (its id,
// chat, text and buttons), from the bot.
func (c *Client) PressOn(ctx context.Context, u User, m Sent, data string) (int64, error) {
	msg := map[string]any{"message_id": m.MessageID, "date": time.Now().Unix(),
		"from": map[string]any{"id": 1, "is_bot": true, "first_name": "devbot", "username": "devbot_dev_bot"},
		"chat": map[string]any{"id": m.ChatID, "type": "private", "first_name": u.FirstName}, "text": plain(m.Text)}
	var markup any
	if json.Unmarshal([]byte(m.ReplyMarkup), &markup) == nil && markup != nil {
		msg["reply_markup"] = markup
	}
	return c.post(ctx, map[string]any{"callback_query": map[string]any{
		"id": fmt.Sprint(c.nextMsg.Add(1)), "from": u.json(), "message": msg, "chat_instance": "1", "data": data}})
}

// Button is an inline keyboard button.
type Button struct {
	Text         string `json:"text"`
	CallbackData string `json:"callback_data"`
	URL          string `json:"url,omitempty"`
}

// Buttons returns a reply's inline buttons, row by row, left to right.
func Buttons(replyMarkup string) []Button {
	var kb struct {
		InlineKeyboard [][]Button `json:"inline_keyboard"`
	}
	if json.Unmarshal([]byte(replyMarkup), &kb) != nil {
		return nil
	}
	var out []Button
	for _, row := range kb.InlineKeyboard {
		out = append(out, row...)
	}
	return out
}

// Outbox returns what the bot did to the chats from seq after on: messages
// sent and edited, with their ids (/_dev/outbox).
func (c *Client) Outbox(ctx context.Context, after int) ([]Sent, error) {
	var out []Sent
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/_dev/outbox?after=%d", after), nil, &out)
	return out, err
}

// Messages replays the outbox for chatID into each message's latest form
// (edits applied), oldest first.
func Messages(outbox []Sent, chatID int64) []Sent {
	var order []int64
	byID := map[int64]*Sent{}
	for _, m := range outbox {
		if m.ChatID != chatID {
			continue
		}
		cur, ok := byID[m.MessageID]
		switch {
		case m.Method == "sendMessage" || m.Method == "sendDocument" || !ok:
			cp := m
			byID[m.MessageID] = &cp
			if !ok {
				order = append(order, m.MessageID)
			}
		case m.Method == "editMessageReplyMarkup":
			cur.ReplyMarkup, cur.Seq = m.ReplyMarkup, m.Seq
		default: // a new text or caption replaces the buttons too, unless given again
			cur.Text, cur.ReplyMarkup, cur.Seq = m.Text, m.ReplyMarkup, m.Seq
		}
	}
	out := make([]Sent, 0, len(order))
	for _, id := range order {
		out = append(out, *byID[id])
	}
	return out
}

// Jobs returns the refinements the database recorded for a Telegram user,
// newest first (at most ten); none for a user it does not know yet.
func (c *Client) Jobs(ctx context.Context, telegramID int64) ([]JobRow, error) {
	st, err := c.State(ctx, telegramID)
	if err != nil && strings.Contains(err.Error(), "404") {
		return nil, nil
	}
	return st.Jobs, err
}

func (c *Client) post(ctx context.Context, update map[string]any) (int64, error) {
	id := c.nextUpdate.Add(1)
	update["update_id"] = id
	body, _ := json.Marshal(update)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+"/TelegramWebhook", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Telegram-Bot-Api-Secret-Token", c.WebhookSecret)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, fmt.Errorf("posting to the webhook: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return 0, fmt.Errorf("the webhook answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return id, nil
}

// Sent returns the replies from seq after on.
func (c *Client) Sent(ctx context.Context, after int) ([]Sent, error) {
	var out []Sent
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/_dev/sent?after=%d", after), nil, &out)
	return out, err
}

// WaitReplies waits until n replies to chatID arrived after seq after and
// returns them, or returns what arrived when the timeout ends.
func (c *Client) WaitReplies(ctx context.Context, chatID int64, after, n int, timeout time.Duration) ([]Sent, error) {
	deadline := time.Now().Add(timeout)
	for {
		all, err := c.Sent(ctx, after)
		if err != nil {
			return nil, err
		}
		var mine []Sent
		for _, m := range all {
			if m.ChatID == chatID {
				mine = append(mine, m)
			}
		}
		if len(mine) >= n || time.Now().After(deadline) {
			return mine, nil
		}
		select {
		case <-ctx.Done():
			return mine, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// LastSeq is the seq of the newest reply so far.
func (c *Client) LastSeq(ctx context.Context) (int, error) {
	all, err := c.Sent(ctx, 0)
	if err != nil || len(all) == 0 {
		return 0, err
	}
	return all[len(all)-1].Seq, nil
}

// State reads what the database recorded for a Telegram user.
func (c *Client) State(ctx context.Context, telegramID int64) (UserState, error) {
	var st UserState
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/_dev/state?telegram_id=%d", telegramID), nil, &st)
	return st, err
}

// Info reads how the stack is set up (/_dev/info). A stack too old to
// tell reports the configured model.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var in Info
	err := c.do(ctx, http.MethodGet, "/_dev/info", nil, &in)
	if err != nil && strings.Contains(err.Error(), "404") {
		return Info{Model: ModelConfigured}, nil
	}
	return in, err
}

// Ping reports whether a stack answers at the client's URL.
func (c *Client) Ping(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/_dev/ping", nil, nil)
}

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, body)
	if err != nil {
		return err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Plain is a reply's HTML as a person reads it in the chat.
func Plain(s string) string { return plain(s) }
