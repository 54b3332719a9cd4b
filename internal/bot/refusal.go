package bot

import (
	"errors"
	"path"
	"strings"

	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/reply"
	"github.com/devbot-hq/devbot/internal/telegram"
)

// refusal words a permanent error that no handler turned into a userError:
// what went wrong, for the request it came from, and what to do. The
// errors reaching here come from other services (Telegram handing over a
// file, storage, billing) or, rarely, the database refusing a value.
func refusal(req Request, err error, maxFile int64) reply.Reply {
	var ae *telegram.APIError
	isAPI := errors.As(err, &ae)
	switch {
	case req.Document != nil:
		name := docName(req)
		switch {
		case isAPI && ae.Method == "getFile" && errors.Is(err, fault.ErrTooLarge):
			return reply.Text("%s is too big for me to fetch: Telegram hands bots files of at most 20 MB, and I keep "+
				"text files of up to %s. Send a smaller text file.", name, reply.Size(maxFile))
		case isAPI && ae.Method == "getFile":
			return reply.Text("Telegram would not hand me %s (it said: %s), so nothing was added: please send it again, as a file.",
				name, strings.TrimPrefix(ae.Description, "Bad Request: "))
		case errors.Is(err, fault.ErrNotFound):
			return reply.Text("Telegram no longer has %s, so nothing was added: please send it again.", name)
		case errors.Is(err, fault.ErrTooLarge):
			return reply.Text("%s is larger than %s, the most I keep. Send a smaller text file.", name, reply.Size(maxFile))
		case errors.Is(err, fault.ErrInvalid):
			return reply.Text("I could not store %s (%s), so nothing was added. Send it again with another name as the caption, e.g. src/main.go.",
				name, plainReason(err))
		}
		return reply.Text("I could not add %s (%s), so nothing was added. Please send it again in a while.", name, plainReason(err))
	case req.Command == "buy" || req.Callback.Kind == CallbackBuy:
		return reply.Text("I could not start that purchase (%s). Nothing was charged; /buy shows the packs again.", plainReason(err))
	case req.Command != "":
		return reply.Text("I could not do /%s (%s). Nothing was changed. /help shows how each command is written.",
			req.Command, plainReason(err))
	}
	return reply.Text("I could not do that (%s). Nothing was changed. /help lists what I can do.", plainReason(err))
}

// docName is the name a document was sent under, as the upload reads it.
func docName(req Request) string {
	switch {
	case req.Caption != "" && strings.HasSuffix(req.Caption, "/") && req.Document.FileName != "":
		return path.Join(req.Caption, req.Document.FileName)
	case req.Caption != "":
		return req.Caption
	case req.Document.FileName != "":
		return req.Document.FileName
	}
	return "the file"
}
