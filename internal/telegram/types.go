// Package telegram is a small client of the Telegram Bot API: the few
// methods devbot calls (sendMessage, sendDocument (also streamed),
// editMessageText, sendChatAction, getFile and the file download,
// answerCallbackQuery, deleteMessage, setWebhook), the update types
// it reads, and HTML helpers for replies.
//
// Errors are classified where they arise (internal/fault): 429 is retryable
// after the server's retry_after, 5xx and network errors are retryable, 403
// ("bot was blocked by the user") and other 4xx are permanent. The bot token
// is part of every Bot API URL, so it is redacted from every error this
// package returns.
package telegram

import "encoding/json"

// Update is one incoming update; only the kinds devbot handles are decoded.
type Update struct {
	UpdateID      int64          `json:"update_id"`
	Message       *Message       `json:"message,omitempty"`
	EditedMessage *Message       `json:"edited_message,omitempty"`
	CallbackQuery *CallbackQuery `json:"callback_query,omitempty"`
}

// ChatID returns the chat the update belongs to, or 0 when it has none.
func (u Update) ChatID() int64 {
	switch {
	case u.Message != nil:
		return u.Message.Chat.ID
	case u.EditedMessage != nil:
		return u.EditedMessage.Chat.ID
	case u.CallbackQuery != nil && u.CallbackQuery.Message != nil:
		return u.CallbackQuery.Message.Chat.ID
	case u.CallbackQuery != nil:
		return u.CallbackQuery.From.ID
	}
	return 0
}

// Message is a chat message.
type Message struct {
	MessageID int64           `json:"message_id"`
	From      *User           `json:"from,omitempty"`
	Chat      Chat            `json:"chat"`
	Date      int64           `json:"date"`
	Text      string          `json:"text,omitempty"`
	Entities  []MessageEntity `json:"entities,omitempty"`
	Caption   string          `json:"caption,omitempty"`
	Document  *Document       `json:"document,omitempty"`

	// A forwarded message carries its origin (Bot API 7+) and, from older
	// servers, the forward_* fields; its text is the original author's.
	ForwardOrigin     *MessageOrigin `json:"forward_origin,omitempty"`
	ForwardFrom       *User          `json:"forward_from,omitempty"`
	ForwardFromChat   *Chat          `json:"forward_from_chat,omitempty"`
	ForwardSenderName string         `json:"forward_sender_name,omitempty"`
	ForwardDate       int64          `json:"forward_date,omitempty"`
	// IsAutomaticForward: a channel post copied into its discussion group.
	IsAutomaticForward bool `json:"is_automatic_forward,omitempty"`
	// ReplyToMessage, Quote and ExternalReply carry someone else's text:
	// never read as the user's request.
	ReplyToMessage *Message        `json:"reply_to_message,omitempty"`
	Quote          *TextQuote      `json:"quote,omitempty"`
	ExternalReply  json.RawMessage `json:"external_reply,omitempty"`

	// Media the bot cannot read; only their presence matters.
	Photo     json.RawMessage `json:"photo,omitempty"`
	Sticker   json.RawMessage `json:"sticker,omitempty"`
	Voice     json.RawMessage `json:"voice,omitempty"`
	Audio     json.RawMessage `json:"audio,omitempty"`
	Video     json.RawMessage `json:"video,omitempty"`
	VideoNote json.RawMessage `json:"video_note,omitempty"`
	Animation json.RawMessage `json:"animation,omitempty"`
}

// Forwarded reports whether the message was forwarded from elsewhere.
func (m *Message) Forwarded() bool {
	return m.ForwardOrigin != nil || m.ForwardFrom != nil || m.ForwardFromChat != nil ||
		m.ForwardSenderName != "" || m.ForwardDate != 0 || m.IsAutomaticForward
}

// Media names the kind of non-document file the message carries ("a
// photo"), or "" when it has none. An animation also carries a document
// field; it is still a GIF, not a text file.
func (m *Message) Media() string {
	present := func(r json.RawMessage) bool { return len(r) > 0 && string(r) != "null" }
	switch {
	case present(m.Animation):
		return "an animation"
	case present(m.Photo):
		return "a photo"
	case present(m.Sticker):
		return "a sticker"
	case present(m.Voice):
		return "a voice message"
	case present(m.Audio):
		return "an audio file"
	case present(m.VideoNote):
		return "a video message"
	case present(m.Video):
		return "a video"
	}
	return ""
}

// MessageOrigin is where a forwarded message came from: type "user",
// "hidden_user", "chat" or "channel".
type MessageOrigin struct {
	Type string `json:"type"`
	Date int64  `json:"date"`
}

// TextQuote is the part of a replied-to message that a reply quotes.
type TextQuote struct {
	Text string `json:"text"`
}

// User is a Telegram user or bot.
type User struct {
	ID           int64  `json:"id"`
	IsBot        bool   `json:"is_bot"`
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name,omitempty"`
	Username     string `json:"username,omitempty"`
	LanguageCode string `json:"language_code,omitempty"`
}

// Chat is a conversation. Type is "private", "group", "supergroup" or
// "channel".
type Chat struct {
	ID        int64  `json:"id"`
	Type      string `json:"type"`
	Title     string `json:"title,omitempty"`
	FirstName string `json:"first_name,omitempty"`
	Username  string `json:"username,omitempty"`
}

// Chat types.
const (
	ChatPrivate    = "private"
	ChatGroup      = "group"
	ChatSupergroup = "supergroup"
	ChatChannel    = "channel"
)

// MessageEntity marks a span of a message's text; offsets are UTF-16 units.
type MessageEntity struct {
	Type   string `json:"type"`
	Offset int    `json:"offset"`
	Length int    `json:"length"`
}

// Document is a file sent as a document. FileName and MimeType are the
// sender's claims.
type Document struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	FileName     string `json:"file_name,omitempty"`
	MimeType     string `json:"mime_type,omitempty"`
	FileSize     int64  `json:"file_size,omitempty"`
}

// CallbackQuery is a tap on an inline button.
type CallbackQuery struct {
	ID      string   `json:"id"`
	From    User     `json:"from"`
	Message *Message `json:"message,omitempty"`
	Data    string   `json:"data,omitempty"`
}

// File is getFile's answer: FilePath is what Download needs.
type File struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	FileSize     int64  `json:"file_size,omitempty"`
	FilePath     string `json:"file_path,omitempty"`
}

// InlineKeyboardMarkup is a message's inline keyboard.
type InlineKeyboardMarkup struct {
	InlineKeyboard [][]InlineKeyboardButton `json:"inline_keyboard"`
}

// InlineKeyboardButton is one button: callback data or a URL.
type InlineKeyboardButton struct {
	Text         string `json:"text"`
	CallbackData string `json:"callback_data,omitempty"`
	URL          string `json:"url,omitempty"`
}

// ParseUpdate decodes an update as Telegram posts it.
func ParseUpdate(data []byte) (Update, error) {
	var u Update
	err := json.Unmarshal(data, &u)
	return u, err
}
