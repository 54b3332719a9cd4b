package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/devbot-hq/devbot/internal/fault"
)

// ParseModeHTML is the only parse mode devbot uses: with html.EscapeString it
// is far less error-prone than MarkdownV2.
const ParseModeHTML = "HTML"

// Client calls the Bot API. It is safe for concurrent use.
type Client struct {
	base  string // e.g. https://api.telegram.org, no trailing slash
	token string
	hc    *http.Client
	// limiter spaces the sends (WithLimiter); nil sends at once.
	limiter *Limiter
}

// New returns a client for the API at baseURL (https://api.telegram.org, a
// local Bot API server or a test fake). A nil hc uses a client with a 60 s
// timeout.
func New(baseURL, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, hc: hc}
}

// APIError is an answer with ok=false.
type APIError struct {
	Method      string
	Code        int
	Description string
	RetryAfter  time.Duration
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("telegram %s: %d %s", e.Method, e.Code, e.Description)
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return s
}

// IsBlocked reports whether err says the user blocked the bot (or the chat
// is gone): sending there again is pointless.
func IsBlocked(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == http.StatusForbidden
}

// IsNotModified reports a 400 "message is not modified" (a harmless repeat).
func IsNotModified(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == http.StatusBadRequest &&
		strings.Contains(ae.Description, "message is not modified")
}

type envelope struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  *struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

// classify turns a failed answer into a classified *APIError.
func classify(method string, status int, env envelope) error {
	code := env.ErrorCode
	if code == 0 {
		code = status
	}
	ae := &APIError{Method: method, Code: code, Description: env.Description}
	if env.Parameters != nil && env.Parameters.RetryAfter > 0 {
		ae.RetryAfter = time.Duration(env.Parameters.RetryAfter) * time.Second
	}
	switch {
	case code == http.StatusTooManyRequests:
		return fault.RetryAfter(fmt.Errorf("%w: %w", fault.ErrRateLimited, ae), ae.RetryAfter)
	case code >= 500:
		return fault.AsRetryable(fmt.Errorf("%w: %w", fault.ErrUnavailable, ae))
	case code == http.StatusUnauthorized:
		return fault.AsPermanent(fmt.Errorf("%w: %w", fault.ErrUnauthorized, ae))
	case code == http.StatusForbidden:
		return fault.AsPermanent(fmt.Errorf("%w: %w", fault.ErrUnauthorized, ae))
	case code == http.StatusNotFound:
		return fault.AsPermanent(fmt.Errorf("%w: %w", fault.ErrNotFound, ae))
	case code == http.StatusBadRequest && strings.Contains(env.Description, "too big"):
		return fault.AsPermanent(fmt.Errorf("%w: %w", fault.ErrTooLarge, ae))
	default:
		return fault.AsPermanent(fmt.Errorf("%w: %w", fault.ErrInvalid, ae))
	}
}

// redactedError hides the token in a transport error (*url.Error quotes the
// URL, which carries the token).
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func (c *Client) redact(err error) error {
	if err == nil || c.token == "" {
		return err
	}
	msg := err.Error()
	if !strings.Contains(msg, c.token) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(msg, c.token, "<token>"), err: errors.Unwrap(err)}
}

func (c *Client) methodURL(method string) string {
	return c.base + "/bot" + c.token + "/" + method
}

// do posts a request and decodes the result into out.
func (c *Client) do(ctx context.Context, method, contentType string, body io.Reader, out any) (err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.methodURL(method), body)
	if err != nil {
		return fault.AsPermanent(c.redact(err))
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := c.hc.Do(req)
	if err != nil {
		return fault.AsRetryable(fmt.Errorf("telegram %s: %w: %w", method, fault.ErrUnavailable, c.redact(err)))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fault.AsRetryable(fmt.Errorf("telegram %s: reading the answer: %w", method, c.redact(err)))
	}
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			return fault.AsRetryable(fmt.Errorf("telegram %s: %w: HTTP %d", method, fault.ErrUnavailable, resp.StatusCode))
		}
		return fault.Retryablef("telegram %s: HTTP %d with an undecodable body", method, resp.StatusCode)
	}
	if !env.OK {
		// The description becomes the error's text: never with the token
		// (a proxy in front of the Bot API may quote the URL).
		if c.token != "" {
			env.Description = strings.ReplaceAll(env.Description, c.token, "<token>")
		}
		if resp.StatusCode == http.StatusTooManyRequests && env.Parameters == nil {
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
				env.Parameters = &struct {
					RetryAfter int `json:"retry_after"`
				}{s}
			}
		}
		return classify(method, resp.StatusCode, env)
	}
	if out != nil {
		if err := json.Unmarshal(env.Result, out); err != nil {
			return fault.Permanentf("telegram %s: decoding the result: %w", method, err)
		}
	}
	return nil
}

func (c *Client) callJSON(ctx context.Context, method string, params, out any) error {
	body, err := json.Marshal(params)
	if err != nil {
		return fault.Permanentf("telegram %s: %w", method, err)
	}
	return c.do(ctx, method, "application/json", bytes.NewReader(body), out)
}

// SendMessage is sendMessage's parameters.
type SendMessage struct {
	ChatID      int64                 `json:"chat_id"`
	Text        string                `json:"text"`
	ParseMode   string                `json:"parse_mode,omitempty"`
	ReplyMarkup *InlineKeyboardMarkup `json:"reply_markup,omitempty"`
	// DisablePreview turns off link previews.
	DisablePreview bool `json:"-"`
}

type sendMessageWire struct {
	SendMessage
	LinkPreview *struct {
		IsDisabled bool `json:"is_disabled"`
	} `json:"link_preview_options,omitempty"`
}

// SendMessage sends a text message.
func (c *Client) SendMessage(ctx context.Context, m SendMessage) (Message, error) {
	w := sendMessageWire{SendMessage: m}
	if m.DisablePreview {
		w.LinkPreview = &struct {
			IsDisabled bool `json:"is_disabled"`
		}{true}
	}
	var out Message
	err := c.limited(ctx, "sendMessage", m.ChatID, true, func() error { return c.callJSON(ctx, "sendMessage", w, &out) })
	return out, err
}

// SendDocument is sendDocument's parameters; Data is uploaded as FileName.
type SendDocument struct {
	ChatID      int64
	FileName    string
	Data        []byte
	Caption     string
	ParseMode   string
	ReplyMarkup *InlineKeyboardMarkup
	// Write, when set, produces the document instead of Data: it is called
	// while the request is sent and its bytes stream into the request body
	// (through an io.Pipe), so a large document (a project's zip) is never
	// held in memory. Its error fails the call and is returned as is.
	Write func(w io.Writer) error `json:"-"`
}

// SendDocument uploads a document (multipart/form-data).
func (c *Client) SendDocument(ctx context.Context, d SendDocument) (Message, error) {
	var out Message
	if d.Write != nil {
		// A streamed body cannot be sent twice: a 429 is returned as is.
		err := c.limited(ctx, "sendDocument", d.ChatID, false, func() (err error) { out, err = c.streamDocument(ctx, d); return err })
		return out, err
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := writeDocument(mw, d, func(w io.Writer) error { _, err := w.Write(d.Data); return err }); err != nil {
		return Message{}, err
	}
	err := c.limited(ctx, "sendDocument", d.ChatID, true, func() error {
		return c.do(ctx, "sendDocument", mw.FormDataContentType(), bytes.NewReader(buf.Bytes()), &out)
	})
	return out, err
}

// streamDocument sends d with its content written by d.Write into a pipe
// that the HTTP request reads: memory stays at the pipe's and the writer's
// buffers whatever the document's size. The length is unknown beforehand,
// so the body goes out chunked.
func (c *Client) streamDocument(ctx context.Context, d SendDocument) (Message, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	done := make(chan error, 1)
	go func() {
		err := writeDocument(mw, d, d.Write)
		pw.CloseWithError(err) // nil: EOF for the reader
		done <- err
	}()
	var out Message
	err := c.do(ctx, "sendDocument", mw.FormDataContentType(), pr, &out)
	pr.CloseWithError(io.ErrClosedPipe) // a request that failed early unblocks the writer
	if werr := <-done; werr != nil && !errors.Is(werr, io.ErrClosedPipe) {
		return Message{}, werr // the content's own error (storage, database) says more
	}
	return out, err
}

// writeDocument writes sendDocument's form: the fields, then the document
// part with content.
func writeDocument(mw *multipart.Writer, d SendDocument, content func(io.Writer) error) error {
	_ = mw.WriteField("chat_id", strconv.FormatInt(d.ChatID, 10))
	if d.Caption != "" {
		_ = mw.WriteField("caption", d.Caption)
	}
	if d.ParseMode != "" {
		_ = mw.WriteField("parse_mode", d.ParseMode)
	}
	if d.ReplyMarkup != nil {
		rm, err := json.Marshal(d.ReplyMarkup)
		if err != nil {
			return fault.Permanentf("telegram sendDocument: %w", err)
		}
		_ = mw.WriteField("reply_markup", string(rm))
	}
	fw, err := mw.CreateFormFile("document", d.FileName)
	if err != nil {
		return fault.AsRetryable(fmt.Errorf("telegram sendDocument: %w", err))
	}
	if err := content(fw); err != nil {
		return err
	}
	if err := mw.Close(); err != nil {
		return fault.AsRetryable(fmt.Errorf("telegram sendDocument: %w", err))
	}
	return nil
}

// GetMe returns the bot's own user (its Username is how commands in
// groups address it: /cmd@username).
func (c *Client) GetMe(ctx context.Context) (User, error) {
	var out User
	err := c.callJSON(ctx, "getMe", map[string]string{}, &out)
	return out, err
}

// GetFile asks where a file can be downloaded.
func (c *Client) GetFile(ctx context.Context, fileID string) (File, error) {
	var out File
	err := c.callJSON(ctx, "getFile", map[string]string{"file_id": fileID}, &out)
	return out, err
}

// Download fetches a file by the FilePath of GetFile, refusing more than
// maxBytes (fault.ErrTooLarge).
func (c *Client) Download(ctx context.Context, filePath string, maxBytes int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/file/bot"+c.token+"/"+filePath, nil)
	if err != nil {
		return nil, fault.AsPermanent(c.redact(err))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fault.AsRetryable(fmt.Errorf("telegram download: %w: %w", fault.ErrUnavailable, c.redact(err)))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, fault.Retryablef("telegram download: %w: HTTP %d", fault.ErrUnavailable, resp.StatusCode)
	case resp.StatusCode == http.StatusNotFound:
		return nil, fault.Permanentf("telegram download: %w: HTTP 404", fault.ErrNotFound)
	case resp.StatusCode != http.StatusOK:
		return nil, fault.Permanentf("telegram download: HTTP %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		return nil, fault.AsRetryable(fmt.Errorf("telegram download: %w", c.redact(err)))
	}
	if int64(len(data)) > maxBytes {
		return nil, fault.Permanentf("telegram download: %w: more than %d bytes", fault.ErrTooLarge, maxBytes)
	}
	return data, nil
}

// AnswerCallbackQuery acknowledges a button tap, optionally with a short
// notification text.
func (c *Client) AnswerCallbackQuery(ctx context.Context, id, text string) error {
	p := map[string]any{"callback_query_id": id}
	if text != "" {
		p["text"] = text
	}
	return c.callJSON(ctx, "answerCallbackQuery", p, nil)
}

// DeleteMessage deletes a message (the one that carried a user's API key).
func (c *Client) DeleteMessage(ctx context.Context, chatID, messageID int64) error {
	return c.callJSON(ctx, "deleteMessage", map[string]int64{"chat_id": chatID, "message_id": messageID}, nil)
}

// Webhook is setWebhook's parameters.
type Webhook struct {
	URL                string   `json:"url"`
	SecretToken        string   `json:"secret_token,omitempty"`
	MaxConnections     int      `json:"max_connections,omitempty"`
	AllowedUpdates     []string `json:"allowed_updates,omitempty"`
	DropPendingUpdates bool     `json:"drop_pending_updates,omitempty"`
}

// SetWebhook registers the webhook.
func (c *Client) SetWebhook(ctx context.Context, w Webhook) error {
	if _, err := url.Parse(w.URL); err != nil {
		return fault.Permanentf("telegram setWebhook: %w: bad URL", fault.ErrInvalid)
	}
	return c.callJSON(ctx, "setWebhook", w, nil)
}

// EditMessageText is editMessageText's parameters, for a message of a chat.
type EditMessageText struct {
	ChatID      int64                 `json:"chat_id"`
	MessageID   int64                 `json:"message_id"`
	Text        string                `json:"text"`
	ParseMode   string                `json:"parse_mode,omitempty"`
	ReplyMarkup *InlineKeyboardMarkup `json:"reply_markup,omitempty"`
	// DisablePreview turns off link previews.
	DisablePreview bool `json:"-"`
}

// EditMessageText replaces a message's text and inline keyboard (a progress
// message turned into the result). An unchanged text answers 400 "message is
// not modified" (IsNotModified), which callers treat as done; a message that
// is gone answers 400 "message to edit not found" (IsEditGone).
func (c *Client) EditMessageText(ctx context.Context, m EditMessageText) (Message, error) {
	w := struct {
		EditMessageText
		LinkPreview *struct {
			IsDisabled bool `json:"is_disabled"`
		} `json:"link_preview_options,omitempty"`
	}{EditMessageText: m}
	if m.DisablePreview {
		w.LinkPreview = &struct {
			IsDisabled bool `json:"is_disabled"`
		}{true}
	}
	var out Message
	err := c.limited(ctx, "editMessageText", m.ChatID, true, func() error { return c.callJSON(ctx, "editMessageText", w, &out) })
	return out, err
}

// IsEditGone reports a 400 saying the message cannot be edited (deleted, too
// old, not the bot's): send a new message instead.
func IsEditGone(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != http.StatusBadRequest {
		return false
	}
	d := strings.ToLower(ae.Description)
	return strings.Contains(d, "message to edit not found") || strings.Contains(d, "message can't be edited") ||
		strings.Contains(d, "message_id_invalid")
}

// ChatActionTyping is the "typing…" status: shown for up to 5 s, or until
// the bot's next message; repeat it while work runs.
const ChatActionTyping = "typing"

// SendChatAction shows a status such as ChatActionTyping in the chat. With a
// limiter, one sent less than TypingEvery ago makes this one a no-op.
func (c *Client) SendChatAction(ctx context.Context, chatID int64, action string) error {
	return c.chatAction(ctx, chatID, func() error {
		return c.callJSON(ctx, "sendChatAction", map[string]any{"chat_id": chatID, "action": action}, nil)
	})
}
