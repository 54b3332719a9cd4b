package reply

import (
	"context"

	"github.com/devbot-hq/devbot/internal/telegram"
)

// Editor is a Sender that can also edit a message it sent.
type Editor interface {
	Sender
	EditMessageText(ctx context.Context, m telegram.EditMessageText) (telegram.Message, error)
}

// Edit turns the message messageID (a "Working on …" message) into r: its
// text (the first part, when r is longer than a message) and buttons replace
// the message's, and what does not fit follows as new messages, the
// document last, as Send would send them. An unchanged message ("message is
// not modified": a repeated delivery) counts as edited. When the message
// cannot be edited any more (deleted, too old), r is sent as new messages
// instead. It returns Send's errors.
func Edit(ctx context.Context, s Editor, chatID, messageID int64, r Reply) error {
	if r.HTML == "" || messageID == 0 {
		return Send(ctx, s, chatID, r)
	}
	parts := telegram.Split(r.HTML, telegram.MaxMessageLength)
	if len(parts) == 0 {
		return Send(ctx, s, chatID, r)
	}
	m := telegram.EditMessageText{ChatID: chatID, MessageID: messageID, Text: parts[0], ParseMode: telegram.ParseModeHTML,
		DisablePreview: true}
	if len(parts) == 1 && r.Document == nil {
		m.ReplyMarkup = Keyboard(r.Buttons)
	}
	_, err := s.EditMessageText(ctx, m)
	switch {
	case telegram.IsEditGone(err):
		return Send(ctx, s, chatID, r)
	case err != nil && !telegram.IsNotModified(err):
		return err
	}
	rest := r
	rest.HTML = ""
	if len(parts) > 1 {
		rest.HTML = joinParts(parts[1:])
	}
	if rest.HTML == "" && rest.Document == nil {
		return nil
	}
	if rest.HTML == "" {
		// Send would put a short text on the document as its caption; the
		// text is already in the edited message.
		d := telegram.SendDocument{ChatID: chatID, FileName: rest.Document.Name, Data: rest.Document.Data,
			Write: rest.Document.Write, ReplyMarkup: Keyboard(rest.Buttons)}
		_, err := s.SendDocument(ctx, d)
		return err
	}
	return Send(ctx, s, chatID, rest)
}

func joinParts(ps []string) string {
	out := ""
	for i, p := range ps {
		if i > 0 {
			out += "\n"
		}
		out += p
	}
	return out
}
