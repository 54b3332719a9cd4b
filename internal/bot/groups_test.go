package bot_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/bot"
	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/events"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/telegram/telegramtest"
)

// groupUpdate is a raw update as Telegram sends it from the supergroup
// groupID (or, with chatType "group", a basic group): message is the JSON
// of the message's own fields after message_id, date, from and chat.
func groupUpdate(updateID, from int64, chatType, message string) []byte {
	chat := fmt.Sprintf(`{"id":%d,"title":"Team","type":%q}`, groupID, chatType)
	if chatType == "group" {
		chat = `{"id":-4012345678,"title":"Team","type":"group","all_members_are_administrators":true}`
	}
	return []byte(fmt.Sprintf(`{"update_id":%d,"message":{"message_id":%d,`+
		`"from":{"id":%d,"is_bot":false,"first_name":"Ann","username":"ann","language_code":"en"},`+
		`"chat":%s,"date":1764000000,%s}}`, updateID, updateID%100000, from, chat, message))
}

// In a group, what is neither a command, a document nor a button tap (a
// member joining or leaving, a pin, a new title, the group being created,
// the bot being added, chatter, a sticker) gets no answer and registers
// nobody: nothing is sent, no user row, no welcome credits, no inbox row.
func TestGroupChatterAndServiceMessagesIgnored(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	const ann = 401
	me := fmt.Sprintf(`{"id":7000000001,"is_bot":true,"first_name":"devbot","username":%q}`, telegramtest.Username)
	bob := `{"id":402,"is_bot":false,"first_name":"Bob"}`
	prior := `{"message_id":9,"from":` + me + `,"chat":{"id":-1001987654321,"title":"Team","type":"supergroup"},"date":1763999000,"text":"Ann, I answer /balance only in our private chat"}`
	for name, msg := range map[string]struct{ chatType, fields string }{
		"member joined":     {"supergroup", `"new_chat_participant":{"id":401,"is_bot":false,"first_name":"Ann"},"new_chat_member":{"id":401,"is_bot":false,"first_name":"Ann"},"new_chat_members":[{"id":401,"is_bot":false,"first_name":"Ann"}]`},
		"member added":      {"supergroup", `"new_chat_members":[` + bob + `]`},
		"bot added":         {"supergroup", `"new_chat_members":[` + me + `]`},
		"member left":       {"supergroup", `"left_chat_participant":` + bob + `,"left_chat_member":` + bob},
		"pin":               {"supergroup", `"pinned_message":` + prior},
		"new title":         {"supergroup", `"new_chat_title":"Team 2"`},
		"group created":     {"group", `"group_chat_created":true`},
		"new photo":         {"supergroup", `"new_chat_photo":[{"file_id":"p","file_unique_id":"u","width":160,"height":160}]`},
		"chatter":           {"supergroup", `"text":"hello"`},
		"chatter in group":  {"group", `"text":"hello"`},
		"edited chatter":    {"supergroup", `"text":"hello again","edit_date":1764000100`},
		"mention of others": {"supergroup", `"text":"@ann can you look?","entities":[{"offset":0,"length":4,"type":"mention"}]`},
		"reply to the bot":  {"supergroup", `"text":"thanks","reply_to_message":` + prior},
		"sticker":           {"supergroup", `"sticker":{"file_id":"s","file_unique_id":"u","type":"regular","width":512,"height":512,"is_animated":false,"is_video":false}`},
		"photo":             {"supergroup", `"photo":[{"file_id":"p","file_unique_id":"u","width":90,"height":90}],"caption":"look"`},
		"forwarded text":    {"supergroup", `"forward_origin":{"type":"user","sender_user":` + bob + `,"date":1763990000},"forward_from":` + bob + `,"forward_date":1763990000,"text":"/balance"`},
	} {
		id := f.nextID.Add(1)
		data := groupUpdate(id, ann, msg.chatType, msg.fields)
		if name == "edited chatter" {
			data = []byte(strings.Replace(string(data), `"message":`, `"edited_message":`, 1))
		}
		if !json.Valid(data) {
			t.Fatalf("%s: invalid JSON %s", name, data)
		}
		if err := f.bot.Handle(ctx, events.Message{ID: name, Data: data}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if _, found, err := db.LookupProcessed(ctx, f.db.Pool, bot.Consumer, strconv.FormatInt(id, 10)); err != nil || found {
			t.Errorf("%s: inbox row found=%v (%v), want none", name, found, err)
		}
		// Given up on (the database was down), it gets no apology either.
		if err := f.bot.GiveUp(ctx, events.Message{ID: name, Data: data}, errors.New("db down")); err != nil {
			t.Errorf("%s: GiveUp: %v", name, err)
		}
	}
	if sent := f.tg.Calls("sendMessage", "deleteMessage", "answerCallbackQuery"); len(sent) != 0 {
		for _, c := range sent {
			t.Errorf("sent to chat %d: %q", c.ChatID(), c.Text())
		}
	}
	for _, id := range []int64{ann, 402} {
		if u, err := db.UserByTelegramID(ctx, f.db.Pool, id); !errors.Is(err, fault.ErrNotFound) {
			t.Errorf("user %d registered from a group: %+v (%v)", id, u, err)
		}
	}
	var rows int
	if err := f.db.Pool.QueryRow(ctx, `SELECT count(*) FROM processed_messages`).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("%d inbox rows (%v), want 0", rows, err)
	}

	// What is addressed to the bot still gets the pointer to the private
	// chat: a command for nobody, one for us, a document, and text that
	// mentions the bot (Telegram delivers it even in privacy mode).
	at := "@" + telegramtest.Username
	for name, fields := range map[string]string{
		"command":        `"text":"/balance","entities":[{"offset":0,"length":8,"type":"bot_command"}]`,
		"our command":    `"text":"/files` + at + `","entities":[{"offset":0,"length":` + strconv.Itoa(len("/files"+at)) + `,"type":"bot_command"}]`,
		"document":       `"document":{"file_id":"f","file_unique_id":"uf","file_name":"main.go","file_size":13}`,
		"mention":        `"text":"` + at + ` hello","entities":[{"offset":0,"length":` + strconv.Itoa(len(at)) + `,"type":"mention"}]`,
		"mention inside": `"text":"héllo ` + strings.ToUpper(at) + `!","entities":[{"offset":6,"length":` + strconv.Itoa(len(at)) + `,"type":"mention"}]`,
	} {
		before := len(f.tg.Sent(groupID))
		if err := f.bot.Handle(ctx, events.Message{ID: name, Data: groupUpdate(f.nextID.Add(1), ann, "supergroup", fields)}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := f.tg.Sent(groupID)[before:]
		if len(got) != 1 || !strings.Contains(got[0].Text(), "private chat") || !strings.Contains(got[0].Text(), "t.me/"+telegramtest.Username) {
			t.Errorf("%s in a group: %d replies, want one pointer to the private chat", name, len(got))
		}
	}
}
