package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/devbot-hq/devbot/internal/devstack"
)

func init() {
	register("say", command{
		summary: "send one message to a running devbot dev, as a Telegram user",
		usage: `devbot say [--data .devbot] [--user 1001] [--wait 10s] "TEXT"
devbot say --file PATH [--caption PATH_IN_PROJECT] 

Posts a Telegram update to the running stack's webhook (with its secret) and
prints the bot's replies.`,
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
	wait := fs.Duration("wait", 10*time.Second, "how long to wait for replies")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	text := strings.Join(fs.Args(), " ")
	if (text == "") == (*file == "") {
		return usageError("give either TEXT or --file PATH")
	}
	st, err := devstack.ReadState(*data)
	if err != nil {
		return fmt.Errorf("no running devbot dev found in %s (start one with: devbot dev): %w", *data, err)
	}
	c := devstack.NewClient(st.URL, st.WebhookSecret)
	if err := c.Ping(ctx); err != nil {
		return fmt.Errorf("devbot dev at %s does not answer (is it still running?): %w", st.URL, err)
	}
	after, err := c.LastSeq(ctx)
	if err != nil {
		return err
	}
	u := devstack.User{ID: *userID, FirstName: "Dev", Username: "dev"}
	if *file != "" {
		content, err := os.ReadFile(*file)
		if err != nil {
			return err
		}
		_, err = c.SendDocument(ctx, u, filepath.Base(*file), content, *caption)
		if err != nil {
			return err
		}
	} else if _, err := c.SendText(ctx, u, text); err != nil {
		return err
	}
	// Print replies as they come; stop after the wait passes with nothing new.
	deadline := time.Now().Add(*wait)
	got := 0
	for time.Now().Before(deadline) {
		replies, err := c.WaitReplies(ctx, u.ID, after, 1, time.Until(deadline))
		if err != nil {
			return err
		}
		for _, r := range replies {
			fmt.Fprintln(e.stdout, devstack.FormatReply(r))
			after = r.Seq
			got++
			// A refinement answers twice ("working on it", then the result):
			// keep listening a little after each reply.
			deadline = time.Now().Add(min(*wait, 3*time.Second))
		}
	}
	if got == 0 {
		return errors.New("no reply within " + wait.String())
	}
	return nil
}
