package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/devbot-hq/devbot/internal/devstack"
	"github.com/devbot-hq/devbot/internal/logging"
)

func init() {
	register("dev", command{
		summary: "run the whole pipeline on this machine, on one port",
		usage: `devbot dev [--addr 127.0.0.1:8080] [--data .devbot] [--pubsub embedded|emulator]

Runs the five functions, Pub/Sub (embedded, or the installed emulator with real
push subscriptions), storage (local files under --data, or Supabase when
SUPABASE_URL and SUPABASE_KEY are set), PostgreSQL (DATABASE_URL, or a
throwaway cluster removed on exit) and Telegram (replies printed here, or sent
for real when TELEGRAM_BOT_TOKEN is set). Try it with devbot say, or run
devbot demo. Ctrl-C stops everything.`,
		run: dev,
	})
}

func dev(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (port 0: any free port)")
	data := fs.String("data", ".devbot", "directory for local storage and generated secrets")
	ps := fs.String("pubsub", "embedded", "embedded (pstest, in-process) or emulator (the installed Pub/Sub emulator)")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	level, _ := e.lookup("LOG_LEVEL")
	if level == "" {
		level = "warn"
	}
	logger := logging.New(e.stderr, "text", level)
	fmt.Fprintln(e.stdout, "devbot dev: starting (Ctrl-C stops)")
	stack, err := devstack.Start(ctx, devstack.Options{Addr: *addr, DataDir: *data, PubSub: *ps,
		Lookup: e.lookup, Console: e.stdout, Logger: logger, PrintReplies: true})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "devbot dev: try it: devbot say --data %s \"/start\"\n", *data)
	<-ctx.Done()
	fmt.Fprintln(e.stdout, "devbot dev: stopping")
	if err := stack.Close(); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "devbot dev: stopped")
	return nil
}
