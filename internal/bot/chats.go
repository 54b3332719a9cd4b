package bot

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/reply"
)

// Groups, forwards and media: what reaches the bot but is not a request
// from the user's private chat.
//
// In a group everyone reads the answers, so account matters (balance,
// ledger, keys, payments, projects and file contents) are answered only in
// the private chat: a group gets /help, /start and, for everything else, a
// pointer to the private chat. A group's chat id is never taken as the
// user's (Request.PrivateChatID), so later notices go to the private chat.
//
// Only what is addressed to the bot reaches inGroup (Handle drops the
// rest unrecorded, before EnsureUser): a command for us or for nobody, a
// document, a button tap, or text that mentions @us. A member joining or
// leaving, a pin, a new title, chatter, a sticker or a reply to one of our
// messages gets no answer and registers nobody: otherwise every join would
// make the bot post in the group and give the newcomer welcome credits,
// and with privacy mode off it would answer every message. A mention is
// answered (once, with the pointer) because Telegram delivers it even in
// privacy mode precisely when someone addresses the bot: silence would look
// broken. A bare reply is not, or "thanks" to a pointer would get another.

// inGroup answers a request from a group or supergroup: a document or a
// mention gets the default pointer.
func (b *Bot) inGroup(ctx context.Context, tx pgx.Tx, u db.User, req Request) (Plan, error) {
	link := b.privateLink()
	var pl Plan
	switch {
	case req.Command == "help" && req.CallbackID == "":
		pl = done(reply.Reply{HTML: helpText()})
	case req.Command == "start" && req.CallbackID == "":
		pl = done(reply.Text("Hi %s. I keep code projects and change files in our private chat, so your files and "+
			"credits stay private: open %s and press Start.", firstName(u), link))
	case req.Command == "setkey" && req.CallbackID == "":
		// The key is in the group's history now: delete it if we may, and
		// say what the user must do, since members may have read it.
		pl = done(reply.Text("%s, anyone in this group may have seen that key: revoke it with your provider. "+
			"I delete the message if I am allowed to here. Then send /setkey NEW_KEY in our private chat (%s); "+
			"there I delete it at once.", firstName(u), link))
		pl.DeleteMessage = req.MessageID
	case req.CallbackID != "":
		pl = done(reply.Text("%s, that button works only in our private chat, so your account stays private: open %s.",
			firstName(u), link))
	case req.Command != "":
		pl = done(reply.Text("%s, I answer /%s only in our private chat, so your projects, files and credits stay private. "+
			"Open %s (press Start the first time) and send it there.", firstName(u), req.Command, link))
	default:
		pl = done(reply.Text("%s, I work on your projects only in our private chat, so they stay private. "+
			"Open %s (press Start the first time) and send it there.", firstName(u), link))
	}
	pl.Callback = req.CallbackID
	return pl, nil
}

// privateLink is where a user opens the private chat: t.me/<username>, or
// words when getMe never answered.
func (b *Bot) privateLink() string {
	if me := b.knownUsername(); me != "" {
		return "t.me/" + me
	}
	return "a private chat with me (tap my name, then Message)"
}

func firstName(u db.User) string {
	if u.FirstName == "" {
		return "Hi"
	}
	return u.FirstName
}

// forwardedUpload is added to the reply of a forwarded document, which is
// taken as an upload: forwarding is how people move a file between chats,
// and adding a version loses nothing (/undo). Its caption is the original
// sender's words, not a path the user chose, so the file's own name is used.
const forwardedUpload = "(It was forwarded, so I used the file's own name as its path, not the caption, " +
	"which is the original sender's. To choose the path, send the file yourself with the path as its caption.)"

// forwarded answers a forwarded text message: its text is someone else's,
// so a command in it is not run and it is no instruction for the open file.
func (b *Bot) forwarded(req Request) Plan {
	what := "what it says"
	if cmd, _ := ParseCommand(req.Args); cmd != "" {
		what = "/" + cmd
	}
	return Plan{Outcome: db.OutcomeRejected, Replies: []reply.Reply{reply.Text(
		"That message was forwarded, so I did not act on %s: I only follow what you write yourself. "+
			"If you want it, type or paste it as your own message.", what)}}
}

// media answers a photo, sticker, voice note, audio, video or animation:
// the bot reads only text files, and says how to send one.
func (b *Bot) media(ctx context.Context, tx pgx.Tx, u db.User, req Request) (Plan, error) {
	text := reply.HTMLf("I cannot use %s: I work with text files (source code, Markdown, configuration). ", req.Media)
	if u.CurrentProjectID == nil {
		text += "Start with /new NAME, then send a text file as a file (📎 → File)."
	} else {
		text += "Send one as a file (📎 → File, then pick it); the caption can give its path, e.g. src/main.go."
	}
	return Plan{Outcome: db.OutcomeRejected, Replies: []reply.Reply{{HTML: text}}}, nil
}
