// Package reply is what the bot sends to a chat (HTML text, inline buttons,
// documents) and how it is sent: escaped, split cleanly at the Bot API's
// length limit, a diff inline when it fits and as a document when it does
// not. Both the command handler (internal/bot) and the refinement worker
// (internal/refine) answer users through it.
package reply

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/devbot-hq/devbot/internal/telegram"
)

// Sender is the part of the Telegram client that sends.
type Sender interface {
	SendMessage(ctx context.Context, m telegram.SendMessage) (telegram.Message, error)
	SendDocument(ctx context.Context, d telegram.SendDocument) (telegram.Message, error)
}

// Button is an inline button: callback data or a URL.
type Button struct {
	Text string `json:"t"`
	Data string `json:"d,omitempty"`
	URL  string `json:"u,omitempty"`
}

// Document is a file to send: Data, or what Write produces while it is
// uploaded (a project's zip, streamed instead of built in memory).
type Document struct {
	Name  string                  `json:"n"`
	Data  []byte                  `json:"b"`
	Write func(w io.Writer) error `json:"-"`
}

// Reply is one answer: HTML text (already escaped), optional buttons under
// its last part, optionally a document (the text is its caption when short).
type Reply struct {
	HTML     string     `json:"h,omitempty"`
	Buttons  [][]Button `json:"k,omitempty"`
	Document *Document  `json:"d,omitempty"`
}

// Text is a reply of HTML built with fmt and escaped arguments: every %s
// argument is escaped, so user input can never inject markup.
func Text(format string, args ...any) Reply {
	return Reply{HTML: HTMLf(format, args...)}
}

// HTMLf formats with every string argument escaped.
func HTMLf(format string, args ...any) string {
	esc := make([]any, len(args))
	for i, a := range args {
		if s, ok := a.(string); ok {
			esc[i] = telegram.Escape(s)
		} else {
			esc[i] = a
		}
	}
	return fmt.Sprintf(format, esc...)
}

// MaxInlineDiff is the longest diff shown in a message (a screenful on a
// phone); a longer one goes as a document.
const MaxInlineDiff = 3000

// WithDiff appends diff to head in a <pre> block when it fits, or attaches
// it as a document named name.
func WithDiff(head, diff, name string) Reply {
	if diff == "" {
		return Reply{HTML: head}
	}
	if len(diff) <= MaxInlineDiff && telegram.UTF16Len(head)+telegram.UTF16Len(telegram.Pre(diff))+2 <= telegram.MaxMessageLength {
		return Reply{HTML: head + "\n" + telegram.Pre(diff)}
	}
	return Reply{HTML: head + "\n(the diff is long: sent as a file)", Document: &Document{Name: name, Data: []byte(diff)}}
}

// Keyboard is the inline keyboard of rows of buttons (nil for none).
func Keyboard(b [][]Button) *telegram.InlineKeyboardMarkup {
	if len(b) == 0 {
		return nil
	}
	kb := &telegram.InlineKeyboardMarkup{}
	for _, row := range b {
		var r []telegram.InlineKeyboardButton
		for _, x := range row {
			r = append(r, telegram.InlineKeyboardButton{Text: x.Text, CallbackData: x.Data, URL: x.URL})
		}
		kb.InlineKeyboard = append(kb.InlineKeyboard, r)
	}
	return kb
}

// Send sends r to chatID: the text split at the limit (buttons under the
// last part), then the document. A document whose text fits a caption
// carries it as its caption instead.
func Send(ctx context.Context, s Sender, chatID int64, r Reply) error {
	if r.Document != nil && r.HTML != "" && telegram.UTF16Len(r.HTML) <= telegram.MaxCaptionLength && !strings.Contains(r.HTML, "<pre>") {
		_, err := s.SendDocument(ctx, telegram.SendDocument{ChatID: chatID, FileName: r.Document.Name, Data: r.Document.Data,
			Write: r.Document.Write, Caption: r.HTML, ParseMode: telegram.ParseModeHTML, ReplyMarkup: Keyboard(r.Buttons)})
		return err
	}
	if r.HTML != "" {
		parts := telegram.Split(r.HTML, telegram.MaxMessageLength)
		for i, p := range parts {
			m := telegram.SendMessage{ChatID: chatID, Text: p, ParseMode: telegram.ParseModeHTML, DisablePreview: true}
			if i == len(parts)-1 && r.Document == nil {
				m.ReplyMarkup = Keyboard(r.Buttons)
			}
			if _, err := s.SendMessage(ctx, m); err != nil {
				return err
			}
		}
	}
	if r.Document != nil {
		d := telegram.SendDocument{ChatID: chatID, FileName: r.Document.Name, Data: r.Document.Data, Write: r.Document.Write,
			ReplyMarkup: Keyboard(r.Buttons)}
		if _, err := s.SendDocument(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// Size formats a byte count the way the replies show it (2.1 KB).
func Size(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f KB", float64(n)/1000)
	default:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
}
