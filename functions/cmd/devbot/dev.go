package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/devbot-hq/devbot/internal/config"
	"github.com/devbot-hq/devbot/internal/devstack"
	"github.com/devbot-hq/devbot/internal/logging"
)

func init() {
	register("dev", command{
		summary: "run the whole pipeline on this machine, on one port",
		usage: `devbot dev [--addr 127.0.0.1:8080] [--data .devbot] [--pubsub embedded|emulator] [--fresh] [--model configured|scripted]

Runs the five functions, Pub/Sub (embedded, or the installed emulator with real
push subscriptions), storage (local files under --data, or Supabase when
SUPABASE_URL and SUPABASE_KEY are set), PostgreSQL (DATABASE_URL, or a local
cluster kept in --data, so projects, credits and history survive a restart;
--fresh uses a throwaway one, removed on exit) and Telegram (replies printed
here, or sent for real when TELEGRAM_BOT_TOKEN is set). The model is the one
LLM_API_KEY and the rest configure (without a key, only direct edits work),
or with --model=scripted (or DEV_MODEL=scripted) a built-in scripted model:
no network, canned answers that play the demo build (/build), whatever is
configured. Try it with devbot say, or run devbot demo. Ctrl-C (or closing
the terminal) stops everything; after a kill -9 the next start cleans up
what was left running.`,
		run: dev,
	})
}

func dev(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (port 0: any free port)")
	data := fs.String("data", ".devbot", "directory for local storage, the local database and generated secrets")
	ps := fs.String("pubsub", "embedded", "embedded (pstest, in-process) or emulator (the installed Pub/Sub emulator)")
	fresh := fs.Bool("fresh", false, "use a throwaway local database, removed on exit, instead of the one kept in --data")
	defModel, _ := e.lookup("DEV_MODEL")
	if defModel == "" {
		defModel = devstack.ModelConfigured
	}
	model := fs.String("model", defModel, "configured (LLM_API_KEY and the rest, or none) or scripted (built in, no network: the demo build's canned answers); default DEV_MODEL")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	// Closing the terminal sends SIGHUP: stop as for Ctrl-C, or the local
	// PostgreSQL (in a process group of its own) and the state file are
	// left behind.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGHUP)
	defer stop()
	logger := logging.New(e.stderr, logFormat(e.lookup), logLevel(e.lookup))
	fmt.Fprintln(e.stdout, "devbot dev: starting (Ctrl-C stops)")
	stack, err := devstack.Start(ctx, devstack.Options{Addr: *addr, DataDir: *data, PubSub: *ps, FreshDatabase: *fresh,
		Model: *model, Lookup: e.lookup, Console: e.stdout, Logger: logger, PrintReplies: true})
	if err != nil {
		return err
	}
	self := selfCommand(os.Executable, exec.LookPath)
	dataArg := ""
	if *data != ".devbot" {
		dataArg = " --data " + *data
	}
	fmt.Fprintf(e.stdout, "devbot dev: try it: %s say%s \"/start\"\n", self, dataArg)
	<-ctx.Done()
	fmt.Fprintln(e.stdout, "devbot dev: stopping")
	if err := stack.Close(); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "devbot dev: stopped")
	return nil
}

// logFormat is LOG_FORMAT, else text (devbot dev and demo run in
// development, where config's default is text).
func logFormat(lookup func(string) (string, bool)) string {
	if v, _ := lookup("LOG_FORMAT"); v != "" {
		return v
	}
	return "text"
}

// logLevel is LOG_LEVEL, else config's default (the one .env.example shows).
func logLevel(lookup func(string) (string, bool)) string {
	if v, _ := lookup("LOG_LEVEL"); v != "" {
		return v
	}
	for _, v := range config.Vars {
		if v.Name == "LOG_LEVEL" {
			return v.Default
		}
	}
	return "info"
}

// selfCommand is how the user can run this program again from the same
// directory: "devbot" when that is what PATH finds, "go run
// ./functions/cmd/devbot" when it was built by go run (a binary in go's
// build cache), else the binary's path.
func selfCommand(executable func() (string, error), lookPath func(string) (string, error)) string {
	const goRun = "go run ./functions/cmd/devbot"
	exe, err := executable()
	if err != nil {
		return goRun
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	if strings.Contains(exe, string(filepath.Separator)+"go-build") {
		return goRun
	}
	if p, err := lookPath("devbot"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		if p == exe {
			return "devbot"
		}
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, exe); err == nil && !strings.HasPrefix(rel, "..") {
			return "./" + rel
		}
	}
	return exe
}
