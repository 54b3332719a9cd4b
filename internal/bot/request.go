package bot

import (
	"strings"
	"unicode"
	"unicode/utf16"
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
	// Callback is a button tap's query id and data. CallbackData holds
	// only well-formed data (ParseCallback accepted it, and it is in its
	// canonical form): anything else is "" and Callback.Kind empty.
	CallbackID   string
	CallbackData string
	Callback     Callback
	Edited       bool

	// ChatType is the chat's type ("private", "group", "supergroup",
	// "channel"; "" counts as private: a callback without its message).
	ChatType string
	// BotName is the @name a command was addressed to ("" when none): a
	// command for another bot is not ours.
	BotName string
	// Forwarded: the message was forwarded, so its text and caption are
	// someone else's. Command is then empty and Args the text.
	Forwarded bool
	// Media names a non-document file the message carries ("a photo").
	Media string
	// mentioned are the @usernames (without the @) the text's "mention"
	// entities mark: Telegram's own reading of who is addressed, so
	// "hello@bot" or an @name inside code is not one. A forwarded text's
	// mentions are the original author's and are not kept.
	mentioned []string
}

// Mentions reports whether the message's text mentions @name (a bot's
// username; case does not matter, as in Telegram).
func (r Request) Mentions(name string) bool {
	if name == "" {
		return false
	}
	for _, m := range r.mentioned {
		if strings.EqualFold(m, name) {
			return true
		}
	}
	return false
}

// mayBeForUs reports, without knowing the bot's name, whether a group
// message could be addressed to the bot: a button tap, a command, a
// document, or text that mentions someone. Everything else in a group (a
// member joining or leaving, a pin, a new title, chatter, a sticker) is
// not for us, and is dropped before anything is recorded.
func (r Request) mayBeForUs() bool {
	return r.CallbackID != "" || r.Command != "" || r.Document != nil || len(r.mentioned) > 0
}

// forUs is mayBeForUs once the bot's username (me) is known: text counts
// only when it mentions @me. A command's @name was checked already.
func (r Request) forUs(me string) bool {
	return r.CallbackID != "" || r.Command != "" || r.Document != nil || r.Mentions(me)
}

// Private reports whether the request comes from the user's private chat
// with the bot, the only place account matters are answered.
func (r Request) Private() bool {
	return r.ChatType == "" || r.ChatType == telegram.ChatPrivate
}

// PrivateChatID is the user's private chat with the bot: the chat itself
// when the request comes from it, else the user's id (Telegram makes a
// private chat's id the user's id). A group's id never is.
func (r Request) PrivateChatID() int64 {
	if r.Private() {
		return r.ChatID
	}
	return r.From.ID
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
		r.From, r.CallbackID = cq.From, cq.ID
		if c, err := ParseCallback(cq.Data); err == nil {
			r.Callback, r.CallbackData = c, cq.Data
		}
		r.ChatID = u.ChatID()
		if cq.Message != nil {
			r.MessageID, r.ChatType = cq.Message.MessageID, cq.Message.Chat.Type
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
		r.From, r.ChatID, r.MessageID, r.ChatType = *m.From, m.Chat.ID, m.MessageID, m.Chat.Type
		r.Forwarded = m.Forwarded()
		if r.Media = m.Media(); r.Media != "" {
			return r, true // an animation has a document field too: still no text file
		}
		if m.Document != nil {
			r.Document = m.Document
			if !r.Forwarded { // a forwarded caption is the original sender's, not a path
				r.Caption = strings.TrimSpace(m.Caption)
			}
			return r, true
		}
		if r.Forwarded { // never a command from this user
			r.Args = strings.TrimSpace(m.Text)
			return r, true
		}
		r.Command, r.BotName, r.Args = ParseCommandTo(m.Text)
		r.mentioned = mentions(m.Text, m.Entities)
		return r, true
	}
	return Request{}, false
}

// mentions returns the usernames that text's "mention" entities mark.
// Entity offsets count UTF-16 code units; an entity outside the text is
// skipped.
func mentions(text string, entities []telegram.MessageEntity) []string {
	var units []uint16
	var out []string
	for _, e := range entities {
		if e.Type != "mention" {
			continue
		}
		if units == nil {
			units = utf16.Encode([]rune(text))
		}
		if e.Offset < 0 || e.Length < 2 || e.Offset > len(units)-e.Length {
			continue
		}
		name := string(utf16.Decode(units[e.Offset : e.Offset+e.Length]))
		if n, ok := strings.CutPrefix(name, "@"); ok && n != "" {
			out = append(out, n)
		}
	}
	return out
}

// ParseCommand splits "/cmd@bot args" into ("cmd", "args"); text that is not
// a command comes back as ("", text). The arguments keep their inner line
// breaks (an instruction may carry SEARCH/REPLACE blocks).
func ParseCommand(text string) (cmd, args string) {
	cmd, _, args = ParseCommandTo(text)
	return cmd, args
}

// ParseCommandTo is ParseCommand that also returns the bot the command is
// addressed to: "/balance@OtherBot" gives ("balance", "OtherBot", "").
func ParseCommandTo(text string) (cmd, bot, args string) {
	text = strings.TrimSpace(text)
	if !strings.HasPrefix(text, "/") {
		return "", "", text
	}
	end := strings.IndexFunc(text, unicode.IsSpace)
	if end < 0 {
		end = len(text)
	}
	cmd, args = text[1:end], strings.TrimSpace(text[end:])
	if at := strings.IndexByte(cmd, '@'); at >= 0 {
		cmd, bot = cmd[:at], cmd[at+1:]
		if bot == "" || !isWord(bot) {
			return "", "", text
		}
	}
	cmd = strings.ToLower(cmd)
	if cmd == "" || !isWord(cmd) {
		return "", "", text
	}
	return cmd, bot, args
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
