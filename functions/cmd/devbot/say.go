package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/devbot-hq/devbot/internal/devstack"
)

func init() {
	register("say", command{
		summary: "send one message to a running devbot dev, as a Telegram user",
		usage: `devbot say [--data .devbot] [--user 1001] [--wait 2m] [--quiet 1s] "TEXT"
devbot say --file PATH [--caption PATH_IN_PROJECT]
devbot say --press BUTTON

Posts a Telegram update to the running stack's webhook (with its secret) and
prints the bot's replies, and its edits of them, as they come.
--press taps an inline button of the newest reply that has buttons: BUTTON is
its label ("Undo", case does not matter) or its number, counted from 1 row by
row; the update is a real callback_query carrying the button's callback_data.
say returns at the final reply: when at least one reply came, no refinement
started meanwhile is still to be answered, and nothing new came for --quiet.
--wait bounds the whole wait; reaching it before the final reply is an error.`,
		run: say,
	})
}

func say(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("say", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	data := fs.String("data", ".devbot", "the data directory of the running devbot dev")
	userID := fs.Int64("user", 1001, "Telegram user (and chat) id to speak as")
	file := fs.String("file", "", "send this file as a document")
	caption := fs.String("caption", "", "the document's caption (its path in the project)")
	press := fs.String("press", "", "tap this inline button (label or number) of the newest reply with buttons")
	wait := fs.Duration("wait", 2*time.Minute, "the longest to wait for the final reply")
	quiet := fs.Duration("quiet", time.Second, "how long nothing new must come before a reply counts as final")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	text := strings.Join(fs.Args(), " ")
	given := 0
	for _, s := range []string{text, *file, *press} {
		if s != "" {
			given++
		}
	}
	if given != 1 {
		return usageError("give one of TEXT, --file PATH and --press BUTTON")
	}
	if *wait <= 0 || *quiet <= 0 {
		return usageError("--wait and --quiet must be positive")
	}
	st, err := devstack.ReadState(*data)
	if err != nil {
		return fmt.Errorf("no running devbot dev found in %s (start one with: devbot dev): %w", *data, err)
	}
	c := devstack.NewClient(st.URL, st.WebhookSecret)
	if err := c.Ping(ctx); err != nil {
		return fmt.Errorf("devbot dev at %s does not answer (is it still running?): %w", st.URL, err)
	}
	outbox, err := c.Outbox(ctx, 0)
	if err != nil {
		return err
	}
	after := 0
	if len(outbox) > 0 {
		after = outbox[len(outbox)-1].Seq
	}
	u := devstack.User{ID: *userID, FirstName: "Dev", Username: "dev"}
	// Refinements already on record are not this message's to wait for.
	known, err := jobIDs(ctx, c, u.ID)
	if err != nil {
		return err
	}
	switch {
	case *press != "":
		m, b, err := pick(devstack.Messages(outbox, u.ID), *press)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "pressing [%s] on: %s\n", b.Text, firstLine(m.Text))
		if _, err := c.PressOn(ctx, u, m, b.CallbackData); err != nil {
			return err
		}
	case *file != "":
		content, err := os.ReadFile(*file)
		if err != nil {
			return err
		}
		if _, err := c.SendDocument(ctx, u, filepath.Base(*file), content, *caption); err != nil {
			return err
		}
	default:
		if _, err := c.SendText(ctx, u, text); err != nil {
			return err
		}
	}
	return follow(ctx, e, c, u.ID, after, known, *wait, *quiet)
}

// follow prints the bot's messages and edits to chatID after seq after
// until the final reply (see the usage), or fails when wait runs out.
func follow(ctx context.Context, e env, c *devstack.Client, chatID int64, after int, known map[int64]bool, wait, quiet time.Duration) error {
	deadline := time.Now().Add(wait)
	var last time.Time // of the last message or edit
	got := 0
	// A "Working on …" message is always followed by the job's result, as
	// an edit of it or as a new message; while it is the newest word, the
	// reply is not final, even if the job's row is not visible yet (the
	// message goes out in the transaction that is about to commit it).
	working := false
	for {
		items, err := c.Outbox(ctx, after)
		if err != nil {
			return err
		}
		for _, m := range items {
			after = m.Seq
			if m.ChatID != chatID {
				continue
			}
			fmt.Fprintln(e.stdout, formatOut(m))
			got++
			last = time.Now()
			working = strings.HasPrefix(m.Text, "Working on ")
		}
		if got > 0 && time.Since(last) >= quiet && !working {
			busy, err := busy(ctx, c, chatID, known)
			if err != nil {
				return err
			}
			if !busy {
				return nil
			}
		}
		if time.Now().After(deadline) {
			if got == 0 {
				return errors.New("no reply within " + wait.String())
			}
			return fmt.Errorf("a refinement is still running after %s: its reply will show in devbot dev's console (or wait longer with --wait)", wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func jobIDs(ctx context.Context, c *devstack.Client, chatID int64) (map[int64]bool, error) {
	jobs, err := c.Jobs(ctx, chatID)
	ids := map[int64]bool{}
	for _, j := range jobs {
		ids[j.ID] = true
	}
	return ids, err
}

// busy reports whether a refinement started since say began (not in
// known) has not been answered yet.
func busy(ctx context.Context, c *devstack.Client, chatID int64, known map[int64]bool) (bool, error) {
	jobs, err := c.Jobs(ctx, chatID)
	if err != nil {
		return false, err
	}
	for _, j := range jobs {
		if !known[j.ID] && !j.Replied {
			return true, nil
		}
	}
	return false, nil
}

// pick finds the button named by label (its text, any case, or its number
// from 1) on the newest message that has buttons.
func pick(msgs []devstack.Sent, label string) (devstack.Sent, devstack.Button, error) {
	for i := len(msgs) - 1; i >= 0; i-- {
		buttons := devstack.Buttons(msgs[i].ReplyMarkup)
		if len(buttons) == 0 {
			continue
		}
		m := msgs[i]
		var names []string
		for n, b := range buttons {
			names = append(names, fmt.Sprintf("%d [%s]", n+1, b.Text))
		}
		choice := -1
		if n, err := strconv.Atoi(label); err == nil && n >= 1 && n <= len(buttons) {
			choice = n - 1
		}
		for n, b := range buttons {
			if choice < 0 && strings.EqualFold(strings.TrimSpace(b.Text), strings.TrimSpace(label)) {
				choice = n
			}
		}
		if choice < 0 {
			return m, devstack.Button{}, fmt.Errorf("the newest reply with buttons (%q) has no button %q: its buttons are %s",
				firstLine(m.Text), label, strings.Join(names, ", "))
		}
		b := buttons[choice]
		if b.CallbackData == "" {
			return m, b, fmt.Errorf("[%s] opens %s: open it in a browser; only buttons that talk to the bot can be pressed", b.Text, b.URL)
		}
		return m, b, nil
	}
	return devstack.Sent{}, devstack.Button{}, errors.New("no reply to this user has buttons to press")
}

// formatOut renders a message as the console does, an edit as such.
func formatOut(m devstack.Sent) string {
	s := devstack.FormatReply(m)
	if strings.HasPrefix(m.Method, "edit") {
		s = strings.Replace(s, "bot → chat", "bot edits its message in chat", 1)
	}
	return s
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(devstack.Plain(s), "\n")
	if r := []rune(s); len(r) > 60 {
		s = string(r[:60]) + "…"
	}
	return s
}
