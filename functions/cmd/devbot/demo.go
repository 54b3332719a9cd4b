package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/devbot-hq/devbot/internal/demo"
	"github.com/devbot-hq/devbot/internal/devstack"
	"github.com/devbot-hq/devbot/internal/logging"
)

func init() {
	register("demo", command{
		summary: "play a scripted conversation through the whole pipeline and check each step",
		usage: `devbot demo [--data .devbot] [--fresh]

Uses the devbot dev running from --data if there is one; otherwise starts the
stack itself (throwaway PostgreSQL unless DATABASE_URL is set, embedded
Pub/Sub, local storage, the fake Telegram Bot API) and stops it at the end.
Plays /start, /new, an upload, /refine with a SEARCH/REPLACE edit, /diff,
/undo, /history, a change of three files and its undo, /buy (mock payments),
/balance, and then a whole /build through the real webhook, printing the
bot's replies and the recorded outcomes. The build always runs on the
built-in scripted model (no network, canned answers): one question, the spec,
Start, three tasks (the second rejected once by review and fixed), the README
and the zip, whose files it checks. A running devbot dev is used only when it
runs that model (devbot dev --model=scripted). Exits non-zero naming the step
that failed.`,
		run: runDemo,
	})
}

func runDemo(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	data := fs.String("data", ".devbot", "the data directory of a running devbot dev")
	fresh := fs.Bool("fresh", false, "always start a stack of its own, even if devbot dev is running")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	var client *devstack.Client
	if st, err := devstack.ReadState(*data); err == nil && !*fresh {
		c := devstack.NewClient(st.URL, st.WebhookSecret)
		if c.Ping(ctx) == nil {
			if info, err := c.Info(ctx); err == nil && info.Model == devstack.ModelScripted {
				fmt.Fprintf(e.stdout, "demo: using the devbot dev running at %s\n", st.URL)
				client = c
			} else {
				fmt.Fprintf(e.stdout, "demo: the devbot dev running at %s does not use the scripted model the demo's build needs "+
					"(devbot dev --model=scripted does)\n", st.URL)
			}
		}
	}
	if client == nil {
		dir, err := os.MkdirTemp("", "devbot-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		level, _ := e.lookup("LOG_LEVEL")
		if level == "" {
			level = "error"
		}
		fmt.Fprintln(e.stdout, "demo: starting a stack of its own")
		stack, err := devstack.Start(ctx, devstack.Options{Addr: "127.0.0.1:0", DataDir: dir, FreshDatabase: true,
			Model: devstack.ModelScripted, Lookup: demoLookup(e.lookup), Console: e.stdout,
			Logger: logging.New(e.stderr, logFormat(e.lookup), level)})
		if err != nil {
			return err
		}
		defer func() {
			if err := stack.Close(); err != nil {
				fmt.Fprintf(e.stderr, "demo: stopping the stack: %v\n", err)
			}
		}()
		client = devstack.NewClient(stack.URL, stack.WebhookSecret)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	// A user id of its own per run, so a long-lived dev stack sees a new user.
	user := devstack.User{ID: 500000000 + time.Now().Unix()%100000000, FirstName: "Ann", Username: "ann"}
	return demo.Run(ctx, client, user, e.stdout)
}

// demoLookup is the environment of the demo's own stack: every real service
// the operator configured, as devbot dev uses them (the database and how to
// query it, e.g. DATABASE_EXEC_MODE behind a transaction pooler; Supabase
// Storage), except the two whose effects reach people: Telegram (the demo
// reads its replies from the fake Bot API, and must not message real chats)
// and Stripe (the demo buys credits with mock payments, so no money moves).
// The model is always the scripted one, whatever LLM_* say: the build it
// plays is scripted, and costs nothing. ENVIRONMENT stays development, which mock payments need, and
// push authentication and the Pub/Sub emulator are the stack's own choice.
func demoLookup(lookup func(string) (string, bool)) func(string) (string, bool) {
	return func(k string) (string, bool) {
		switch {
		case strings.HasPrefix(k, "TELEGRAM_"), strings.HasPrefix(k, "STRIPE_"), strings.HasPrefix(k, "CHECKOUT_"),
			strings.HasPrefix(k, "PUSH_AUTH_"), k == "MOCK_STRIPE_PAYMENTS", k == "ENVIRONMENT",
			k == "PUBSUB_EMULATOR_HOST", k == "FUNCTION_TARGET", k == "PORT":
			return "", false
		}
		return lookup(k)
	}
}
