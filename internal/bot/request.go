package bot

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/devbot-hq/devbot/internal/telegram"
)

// Request is what a user asked, decoded from an update.
type Request struct {
	UpdateID  int64
	ChatID    int64
	MessageID int64
	From      telegram.User
	// Command is the lower-case command without the slash or @botname
	// ("refine"); empty for plain text, documents and button taps.
	Command string
	// Args is the text after the command, trimmed; for plain text, the text.
	Args     string
	Document *telegram.Document
	Caption  string
	// Callback is a button tap's query id and data.
	CallbackID   string
	CallbackData string
	Edited       bool
}

// ParseRequest extracts the request from an update. ok=false when the
// update carries nothing the bot answers (a channel post, a message without
// a sender, a bot's message).
func ParseRequest(u telegram.Update) (Request, bool) {
	r := Request{UpdateID: u.UpdateID}
	switch {
	case u.CallbackQuery != nil:
		cq := u.CallbackQuery
		if cq.From.ID == 0 || cq.From.IsBot {
			return Request{}, false
		}
		r.From, r.CallbackID, r.CallbackData = cq.From, cq.ID, cq.Data
		r.ChatID = u.ChatID()
		if cq.Message != nil {
			r.MessageID = cq.Message.MessageID
		}
		return r, r.ChatID != 0
	case u.Message != nil, u.EditedMessage != nil:
		m := u.Message
		if m == nil {
			m, r.Edited = u.EditedMessage, true
		}
		if m.From == nil || m.From.ID == 0 || m.From.IsBot || m.Chat.ID == 0 {
			return Request{}, false
		}
		r.From, r.ChatID, r.MessageID = *m.From, m.Chat.ID, m.MessageID
		if m.Document != nil {
			r.Document, r.Caption = m.Document, strings.TrimSpace(m.Caption)
			return r, true
		}
		r.Command, r.Args = ParseCommand(m.Text)
		return r, true
	}
	return Request{}, false
}

// ParseCommand splits "/cmd@bot args" into ("cmd", "args"); text that is not
// a command comes back as ("", text). The arguments keep their inner line
// breaks (an instruction may carry SEARCH/REPLACE blocks).
func ParseCommand(text string) (cmd, args string) {
	text = strings.TrimSpace(text)
	if !strings.HasPrefix(text, "/") {
		return "", text
	}
	end := strings.IndexFunc(text, unicode.IsSpace)
	if end < 0 {
		end = len(text)
	}
	cmd, args = text[1:end], strings.TrimSpace(text[end:])
	if at := strings.IndexByte(cmd, '@'); at >= 0 {
		cmd = cmd[:at]
	}
	cmd = strings.ToLower(cmd)
	if cmd == "" || !isWord(cmd) {
		return "", text
	}
	return cmd, args
}

func isWord(s string) bool {
	for _, r := range s {
		if !(r == '_' || r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r))) {
			return false
		}
	}
	return true
}

// SplitFirst splits args into the first word and the rest (which keeps its
// line breaks): "/refine PATH INSTRUCTION".
func SplitFirst(args string) (first, rest string) {
	args = strings.TrimSpace(args)
	end := strings.IndexFunc(args, unicode.IsSpace)
	if end < 0 {
		return args, ""
	}
	return args[:end], strings.TrimSpace(args[end:])
}
