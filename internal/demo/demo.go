// Package demo plays a scripted conversation against a running devbot stack,
// through the real webhook endpoint, and checks each step: the bot's replies
// and what the database recorded. It ends with a whole /build on the
// stack's scripted model (internal/scriptedmodel): the question and its
// answer, the spec, Start, the progress edited in place, the zip, whose
// files it checks. It is what `devbot demo` runs, and what CI
// runs to prove the whole pipeline end to end.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/devbot-hq/devbot/internal/devstack"
)

// The file the demo uploads and the edit it asks for, as a SEARCH/REPLACE
// block: a direct edit, so no model is needed.
const (
	path     = "cmd/main.go"
	original = `package main

import "fmt"

func main() {
	fmt.Println("hello")
}
`
	instruction = "/refine " + path + "\n" + path + "\n```go\n<<<<<<< SEARCH\n\tfmt.Println(\"hello\")\n=======\n\tfmt.Println(\"hello, world\")\n>>>>>>> REPLACE\n```"

	// A change of the whole project, as the user's own blocks (a model
	// answers in the same form): main.go calls a greeting from a new file,
	// and the README says so. One change set of three files.
	readme       = "README.md"
	readmeText   = "# demo\n\nPrints a greeting.\n"
	multiRequest = "/refine\n" +
		"cmd/main.go\n```go\n<<<<<<< SEARCH\n\tfmt.Println(\"hello\")\n=======\n\tfmt.Println(greeting())\n>>>>>>> REPLACE\n```\n\n" +
		"cmd/greeting.go\n```go\n<<<<<<< SEARCH\n=======\npackage main\n\nfunc greeting() string { return \"hello, world\" }\n>>>>>>> REPLACE\n```\n\n" +
		"README.md\n```\n<<<<<<< SEARCH\nPrints a greeting.\n=======\nPrints a greeting (cmd/greeting.go).\n>>>>>>> REPLACE\n```"
)

// StepError names the step that failed.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("step %q failed: %v", e.Step, e.Err) }
func (e *StepError) Unwrap() error { return e.Err }

// step is one checked step of the conversation.
type step struct {
	name string
	run  func(ctx context.Context) error
}

// Run plays the conversation as user and writes a transcript to out. Its
// last steps play a whole /build, which needs the stack's scripted model
// (devstack.ModelScripted): on a stack with another model Run refuses
// before the first step.
func Run(ctx context.Context, c *devstack.Client, user devstack.User, out io.Writer) error {
	info, err := c.Info(ctx)
	if err != nil {
		return err
	}
	if info.Model != devstack.ModelScripted {
		return fmt.Errorf("the demo's build needs the scripted model, and the stack at %s uses the %s one "+
			"(start it with devbot dev --model=scripted, or run devbot demo --fresh)", c.URL, info.Model)
	}
	r := &runner{c: c, u: user, out: out, timeout: 30 * time.Second}
	var jobID string
	steps := []step{
		{"/start", func(ctx context.Context) error {
			_, err := r.exchange(ctx, "/start", 1, "credits")
			return err
		}},
		{"/new", func(ctx context.Context) error {
			_, err := r.exchange(ctx, "/new demo", 1, "created")
			return err
		}},
		{"upload", func(ctx context.Context) error {
			r.show("user: [sends main.go, caption %q]", path)
			after, err := r.c.LastSeq(ctx)
			if err != nil {
				return err
			}
			if _, err := r.c.SendDocument(ctx, r.u, "main.go", []byte(original), path); err != nil {
				return err
			}
			_, err = r.expect(ctx, after, 1, "Added "+path)
			return err
		}},
		{"/refine", func(ctx context.Context) error {
			replies, err := r.exchange(ctx, instruction, 1, path+" changed")
			if err != nil {
				return err
			}
			m := regexp.MustCompile(`diff:(\d+)`).FindStringSubmatch(replies[len(replies)-1].ReplyMarkup)
			if m == nil {
				return errors.New("the result has no Show diff button")
			}
			jobID = m[1]
			st, err := r.c.State(ctx, r.u.ID)
			if err != nil {
				return err
			}
			if len(st.Jobs) == 0 || st.Jobs[0].State != "succeeded" || st.Jobs[0].Revision == nil ||
				len(st.Jobs[0].Files) != 1 || !strings.HasPrefix(st.Jobs[0].Files[0], path+" v2") {
				return fmt.Errorf("recorded job: %+v, want succeeded with %s at version 2", st.Jobs, path)
			}
			j := st.Jobs[0]
			r.show("  recorded: job %d %s, %s, change set r%d: %s, %d credit(s) charged, reply sent: %v",
				j.ID, j.State, j.Mode, *j.Revision, strings.Join(j.Files, ", "), j.ChargedCredits, j.Replied)
			return nil
		}},
		{"/diff", func(ctx context.Context) error {
			_, err := r.exchange(ctx, "/diff "+jobID, 1, "hello, world")
			return err
		}},
		{"/undo", func(ctx context.Context) error {
			_, err := r.exchange(ctx, "/undo "+path, 1, "restored")
			return err
		}},
		{"/history", func(ctx context.Context) error {
			replies, err := r.exchange(ctx, "/history "+path, 1, path)
			if err != nil {
				return err
			}
			if t := replies[0].Text; !strings.Contains(t, "1") || !strings.Contains(t, "2") {
				return fmt.Errorf("history does not list versions 1 and 2: %q", t)
			}
			return nil
		}},
		{"upload README.md", func(ctx context.Context) error {
			r.show("user: [sends README.md]")
			after, err := r.c.LastSeq(ctx)
			if err != nil {
				return err
			}
			if _, err := r.c.SendDocument(ctx, r.u, readme, []byte(readmeText), readme); err != nil {
				return err
			}
			_, err = r.expect(ctx, after, 1, "Added "+readme)
			return err
		}},
		{"a change across files", func(ctx context.Context) error {
			if _, err := r.exchange(ctx, multiRequest, 1, "3 files changed"); err != nil {
				return err
			}
			st, err := r.c.State(ctx, r.u.ID)
			if err != nil {
				return err
			}
			if len(st.Jobs) == 0 || st.Jobs[0].State != "succeeded" || st.Jobs[0].Revision == nil || len(st.Jobs[0].Files) != 3 {
				return fmt.Errorf("recorded job: %+v, want one change set of 3 files", st.Jobs)
			}
			j := st.Jobs[0]
			r.show("  recorded: job %d %s, change set r%d: %s, %d credit(s) charged", j.ID, j.State, *j.Revision,
				strings.Join(j.Files, ", "), j.ChargedCredits)
			return nil
		}},
		{"/history of the project", func(ctx context.Context) error {
			replies, err := r.exchange(ctx, "/history", 1, "cmd/greeting.go (created)")
			if err == nil && !strings.Contains(replies[0].Text, "/diff r") {
				err = fmt.Errorf("the project's history offers no /diff rN: %q", replies[0].Text)
			}
			return err
		}},
		{"/undo of the whole change", func(ctx context.Context) error {
			_, err := r.exchange(ctx, "/undo", 1, "Undone: README.md, cmd/greeting.go and cmd/main.go are back as they were")
			if err != nil {
				return err
			}
			replies, err := r.exchange(ctx, "/files", 1, path)
			if err == nil && strings.Contains(replies[0].Text, "greeting.go") {
				err = fmt.Errorf("the undone change's new file is still listed: %q", replies[0].Text)
			}
			return err
		}},
		{"/buy", func(ctx context.Context) error {
			before, err := r.c.State(ctx, r.u.ID)
			if err != nil {
				return err
			}
			replies, err := r.exchange(ctx, "/buy", 1, "")
			if err != nil {
				return err
			}
			m := regexp.MustCompile(`"callback_data"\s*:\s*"(buy:[^"]+)"`).FindStringSubmatch(replies[0].ReplyMarkup)
			if m == nil {
				return fmt.Errorf("/buy offers no pack buttons: %q", replies[0].Text)
			}
			r.show("user: [taps %s]", m[1])
			after, err := r.c.LastSeq(ctx)
			if err != nil {
				return err
			}
			if _, err := r.c.Press(ctx, r.u, m[1]); err != nil {
				return err
			}
			if _, err := r.expect(ctx, after, 1, "credit"); err != nil {
				return err
			}
			st, err := r.c.State(ctx, r.u.ID)
			if err != nil {
				return err
			}
			if st.Balance <= before.Balance || len(st.Ledger) == 0 || st.Ledger[0].Kind != "purchase" {
				return fmt.Errorf("balance %d → %d, newest ledger entry %+v: want a purchase", before.Balance, st.Balance, st.Ledger)
			}
			r.show("  recorded: balance %d → %d (%+d %s, mock=%v)", before.Balance, st.Balance, st.Ledger[0].Amount, st.Ledger[0].Kind, st.Ledger[0].Mock)
			return nil
		}},
		{"/balance", func(ctx context.Context) error {
			_, err := r.exchange(ctx, "/balance", 1, "credits")
			return err
		}},
	}
	steps = append(steps, r.buildSteps()...)
	for _, s := range steps {
		if err := s.run(ctx); err != nil {
			return &StepError{Step: s.name, Err: err}
		}
	}
	r.show("demo: all %d steps passed", len(steps))
	return nil
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

type runner struct {
	c       *devstack.Client
	u       devstack.User
	out     io.Writer
	timeout time.Duration
}

func (r *runner) show(format string, args ...any) { fmt.Fprintf(r.out, format+"\n", args...) }

// exchange sends text and waits for n replies, the last containing want.
func (r *runner) exchange(ctx context.Context, text string, n int, want string) ([]devstack.Sent, error) {
	r.show("user: %s", text)
	after, err := r.c.LastSeq(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := r.c.SendText(ctx, r.u, text); err != nil {
		return nil, err
	}
	return r.expect(ctx, after, n, want)
}

func (r *runner) expect(ctx context.Context, after, n int, want string) ([]devstack.Sent, error) {
	replies, err := r.c.WaitReplies(ctx, r.u.ID, after, n, r.timeout)
	if err != nil {
		return nil, err
	}
	for _, m := range replies {
		r.show("%s", devstack.FormatReply(m))
	}
	if len(replies) < n {
		return replies, fmt.Errorf("%d of %d replies within %s", len(replies), n, r.timeout)
	}
	if last := replies[len(replies)-1]; !strings.Contains(last.Text, want) {
		return replies, fmt.Errorf("the reply does not say %q: %q", want, last.Text)
	}
	return replies, nil
}
