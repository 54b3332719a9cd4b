package telegramtest

import (
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"
)

// validActions are sendChatAction's actions (Bot API).
var validActions = map[string]bool{"typing": true, "upload_photo": true, "record_video": true, "upload_video": true,
	"record_voice": true, "upload_voice": true, "upload_document": true, "choose_sticker": true, "find_location": true,
	"record_video_note": true, "upload_video_note": true}

// remember records a message the bot sent, or its successful edit.
func (s *Server) remember(chat, id int64, call Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.said = append(s.said, call)
	if s.msgs == nil {
		s.msgs = map[int64]map[int64]shown{}
	}
	if s.msgs[chat] == nil {
		s.msgs[chat] = map[int64]shown{}
	}
	s.msgs[chat][id] = shown{call.Text(), call.Params["reply_markup"]}
}

// editMessageText answers as the Bot API does: 400 "message to edit not
// found" for a message the bot did not send to that chat (or deleted), 400
// "message is not modified" when text and keyboard are unchanged, 400 for
// an empty or too long text; otherwise the edited message.
func (s *Server) editMessageText(w http.ResponseWriter, call Call) {
	chat, _ := strconv.ParseInt(call.Params["chat_id"], 10, 64)
	id, _ := strconv.ParseInt(call.Params["message_id"], 10, 64)
	text, markup := call.Params["text"], call.Params["reply_markup"]
	s.mu.Lock()
	cur, ok := s.msgs[chat][id]
	s.mu.Unlock()
	switch {
	case !ok:
		writeError(w, failure{code: 400, desc: "Bad Request: message to edit not found"})
	case text == "" || utf16Len(text) > 4096:
		writeError(w, failure{code: 400, desc: "Bad Request: message text is empty or too long"})
	case cur.text == text && cur.markup == markup:
		writeError(w, failure{code: 400, desc: "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"})
	default:
		s.remember(chat, id, call)
		writeJSON(w, 200, map[string]any{"ok": true, "result": map[string]any{
			"message_id": id, "date": time.Now().Unix(), "edit_date": time.Now().Unix(),
			"chat": map[string]any{"id": chat, "type": "private"}, "text": text}})
	}
}

// Shown returns a message the bot sent to chatID as the chat shows it now
// (after edits), and whether it is there.
func (s *Server) Shown(chatID, messageID int64) (text string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.msgs[chatID][messageID]
	return m.text, ok
}

// ShownTexts returns the texts the chat shows now, in the order the
// messages were sent (an edit replaces a message's text in place; message
// ids grow with every call).
func (s *Server) ShownTexts(chatID int64) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]int64, 0, len(s.msgs[chatID]))
	for id := range s.msgs[chatID] {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = s.msgs[chatID][id].text
	}
	return out
}

// Replies returns what chatID was told, in order: the messages and documents
// sent and the successful edits of them (method editMessageText, each an
// entry of its own), as a person scrolling the chat saw it happen.
func (s *Server) Replies(chatID int64) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.said {
		if c.ChatID() == chatID {
			out = append(out, c)
		}
	}
	return out
}

// WaitReplies waits until chatID was told at least n things (see Replies)
// and returns them; it fails the test after timeout.
func (s *Server) WaitReplies(tb testing.TB, chatID int64, n int, timeout time.Duration) []Call {
	tb.Helper()
	return s.wait(tb, chatID, n, timeout, s.Replies, "replies")
}
