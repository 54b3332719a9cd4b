// Command devbot is the one binary of devbot: it serves the Cloud Run
// functions (serve) and carries the operators' subcommands (migrate, and
// those later issues add). Each subcommand registers itself in commands from
// its own file.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// env is how subcommands read the environment, so tests can run them
// in-process with an environment of their own.
type env struct {
	lookup func(string) (string, bool)
	stdout io.Writer
	stderr io.Writer
	stdin  io.Reader
}

type command struct {
	summary string
	usage   string
	run     func(ctx context.Context, e env, args []string) error
}

var commands = map[string]command{}

func register(name string, c command) {
	if _, dup := commands[name]; dup {
		panic("devbot: command registered twice: " + name)
	}
	commands[name] = c
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], env{lookup: os.LookupEnv, stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin}))
}

// run executes one subcommand and returns the process's exit status.
func run(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		help(e.stderr)
		return 2
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" {
		if len(args) > 1 {
			c, ok := commands[args[1]]
			if !ok {
				fmt.Fprintf(e.stderr, "devbot help: unknown command %q\n\n", args[1])
				help(e.stderr)
				return 2
			}
			fmt.Fprintf(e.stdout, "devbot %s: %s\n\n%s\n", args[1], c.summary, c.usage)
			return 0
		}
		help(e.stdout)
		return 0
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(e.stderr, "devbot: unknown command %q\n\n", name)
		help(e.stderr)
		return 2
	}
	if err := c.run(ctx, e, args[1:]); err != nil {
		fmt.Fprintf(e.stderr, "devbot %s: %v\n", name, err)
		if _, usage := err.(usageError); usage {
			return 2
		}
		return 1
	}
	return 0
}

func help(w io.Writer) {
	fmt.Fprintln(w, "devbot: an AI coding bot's back end, as one binary.")
	fmt.Fprintln(w, "\nUsage: devbot <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "  help       this list; devbot help <command> describes one")
	fmt.Fprintln(w, "\nConfiguration comes from the environment: see .env.example.")
}

// usageError is a mistake in the command line (exit status 2).
type usageError string

func (u usageError) Error() string { return string(u) }
