package demo

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/devbot-hq/devbot/internal/devstack"
	"github.com/devbot-hq/devbot/internal/langcheck"
	"github.com/devbot-hq/devbot/internal/scriptedmodel"
	"github.com/devbot-hq/devbot/internal/textfile"
)

// The build the demo plays on the scripted model: a description, the
// model's one question and the answer, the spec and Start, then the tasks
// (one rejected once by review and fixed), the README and the zip.
const (
	buildRequest = "/build a small todo API"
	buildAnswer  = "keep them in memory"
	// buildTimeout bounds the whole build after Start.
	buildTimeout = 2 * time.Minute
)

// buildPlay is what the build's steps learn and pass on.
type buildPlay struct {
	id      string   // the build's id, from the Start button
	files   []string // the spec's files, as its message lists them
	replies []devstack.Sent
	zipName string
	zip     []byte
}

// buildSteps are the steps of the build. A step that fails says where the
// database has the build, which tells a step that never ran (its message
// failed: the stack's log says why) from one that ran and said something
// else.
func (r *runner) buildSteps() []step {
	b := &buildPlay{}
	steps := []step{
		{"/build", func(ctx context.Context) error {
			_, err := r.exchangeAny(ctx, buildRequest, 2, scriptedmodel.Question)
			return err
		}},
		{"the answer and the spec", func(ctx context.Context) error {
			spec, err := r.exchangeAny(ctx, buildAnswer, 2, "Estimated")
			if err != nil {
				return err
			}
			var texts []string
			for _, btn := range devstack.Buttons(spec.ReplyMarkup) {
				texts = append(texts, btn.Text)
				if btn.Text == "Start" {
					b.id = strings.TrimPrefix(btn.CallbackData, "bstart:")
				}
			}
			if strings.Join(texts, ",") != "Start,Change,Cancel" || b.id == "" {
				return fmt.Errorf("the spec's buttons are %v, want Start, Change and Cancel", texts)
			}
			b.files = specFiles(devstack.Plain(spec.Text))
			if len(b.files) == 0 {
				return fmt.Errorf("the spec lists no files: %q", spec.Text)
			}
			return nil
		}},
		{"Start", func(ctx context.Context) error {
			r.show("user: [taps Start]")
			after, err := r.c.LastSeq(ctx)
			if err != nil {
				return err
			}
			if _, err := r.c.Press(ctx, r.u, "bstart:"+b.id); err != nil {
				return err
			}
			b.replies, err = r.until(ctx, after, buildTimeout, func(m devstack.Sent) bool {
				return m.Method == "sendMessage" && strings.Contains(m.Text, "is built")
			})
			if err != nil {
				return err
			}
			edits, fixing, started := 0, false, false
			for _, m := range b.replies {
				started = started || strings.HasPrefix(m.Text, "Started: ")
				switch m.Method {
				case "editMessageText":
					edits++
					fixing = fixing || strings.Contains(m.Text, "fixing (round 2)")
				case "sendDocument":
					b.zipName, b.zip = m.DocumentName, m.Document
				}
			}
			if !started {
				return fmt.Errorf("no reply to Start says \"Started: …\"")
			}
			if edits < 3 {
				return fmt.Errorf("the progress message was edited %d times, want at least 3 (a task, the fix, the end)", edits)
			}
			if !strings.HasSuffix(b.zipName, ".zip") || len(b.zip) == 0 {
				return fmt.Errorf("no zip came: the document is %q (%d bytes)", b.zipName, len(b.zip))
			}
			r.show("  the progress message was edited %d times in place%s; the zip %s came before the last message",
				edits, map[bool]string{true: ", showing the fix of task 2", false: ""}[fixing], b.zipName)
			return nil
		}},
		{"the zip", func(ctx context.Context) error {
			zr, err := zip.NewReader(bytes.NewReader(b.zip), int64(len(b.zip)))
			if err != nil {
				return fmt.Errorf("%s is not a zip: %w", b.zipName, err)
			}
			files := map[string][]byte{}
			var names []string
			for _, f := range zr.File {
				rc, err := f.Open()
				if err != nil {
					return err
				}
				data, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					return fmt.Errorf("%s in the zip: %w", f.Name, err)
				}
				files[f.Name] = data
				names = append(names, f.Name)
			}
			want := append(slices.Clone(b.files), "README.md")
			slices.Sort(want)
			slices.Sort(names)
			if !slices.Equal(names, want) {
				return fmt.Errorf("the zip holds %v, want the spec's files and README.md: %v", names, want)
			}
			if problems := staticProblems(files); len(problems) > 0 {
				return fmt.Errorf("files of the zip do not pass the static checks:\n%s", strings.Join(problems, "\n"))
			}
			r.show("  %s holds %s: the spec's files and README.md; every file passes the static checks (langcheck: %s)",
				b.zipName, strings.Join(names, ", "), checksSummary(files))
			return nil
		}},
		{"/status of the build", func(ctx context.Context) error {
			if _, err := r.exchange(ctx, "/status", 1, "Built"); err != nil {
				return err
			}
			st, err := r.c.State(ctx, r.u.ID)
			if err != nil {
				return err
			}
			bl := st.Build
			if bl == nil || fmt.Sprint(bl.ID) != b.id {
				return fmt.Errorf("recorded build: %+v, want build %s", bl, b.id)
			}
			r.show("  recorded: build %d %s; %d credits charged (%d held at Start, %d still held); %d prompt and %d completion tokens",
				bl.ID, bl.State, bl.ChargedCredits, bl.EstimateCredits, bl.Held, bl.PromptTokens, bl.CompletionTokens)
			for _, t := range bl.Tasks {
				line := fmt.Sprintf("    task %d, %s: %s in %s, %s charged", t.N, t.Title, t.State, plural(t.Rounds, "round"), plural(int(t.ChargedCredits), "credit"))
				if len(t.Rejections) > 0 {
					line += fmt.Sprintf("; the review rejected round 1: %q", short(t.Rejections[0], 90))
				}
				r.show("%s", line)
			}
			if bl.State != "done" || bl.Held != 0 || bl.ChargedCredits <= 0 || len(bl.Tasks) != 3 {
				return fmt.Errorf("recorded build: %+v, want done with 3 tasks, credits charged and none held", bl)
			}
			for _, t := range bl.Tasks {
				rounds, rejections := 1, 0
				if t.N == 2 {
					rounds, rejections = 2, 1
				}
				if t.State != "approved" || t.Rounds != rounds || len(t.Rejections) != rejections {
					return fmt.Errorf("task %d: %+v, want approved in %d round(s) after %d rejection(s)", t.N, t, rounds, rejections)
				}
			}
			return nil
		}},
	}
	for i := range steps {
		run := steps[i].run
		steps[i].run = func(ctx context.Context) error {
			err := run(ctx)
			if err == nil {
				return nil
			}
			where := ""
			if st, serr := r.c.State(ctx, r.u.ID); serr == nil && st.Build != nil {
				where = "the build is recorded as " + st.Build.State
				if len(st.Build.Tasks) > 0 {
					where += fmt.Sprintf(", %d of %d tasks approved", doneTasks(st.Build), len(st.Build.Tasks))
				}
				where += "; "
			}
			return fmt.Errorf("%w (%sLOG_LEVEL=warn shows what the stack logged)", err, where)
		}
	}
	return steps
}

// doneTasks counts a build's approved tasks.
func doneTasks(b *devstack.BuildRow) int {
	n := 0
	for _, t := range b.Tasks {
		if t.State == "approved" {
			n++
		}
	}
	return n
}

// exchangeAny sends text and waits for n replies, one of them containing
// want, and returns that one. The bot's own reply and the build's (sent by
// another consumer) may come in either order.
func (r *runner) exchangeAny(ctx context.Context, text string, n int, want string) (devstack.Sent, error) {
	r.show("user: %s", text)
	after, err := r.c.LastSeq(ctx)
	if err != nil {
		return devstack.Sent{}, err
	}
	if _, err := r.c.SendText(ctx, r.u, text); err != nil {
		return devstack.Sent{}, err
	}
	replies, err := r.c.WaitReplies(ctx, r.u.ID, after, n, r.timeout)
	if err != nil {
		return devstack.Sent{}, err
	}
	for _, m := range replies {
		r.show("%s", devstack.FormatReply(m))
	}
	if len(replies) < n {
		return devstack.Sent{}, fmt.Errorf("%d of %d replies within %s", len(replies), n, r.timeout)
	}
	for _, m := range replies {
		if strings.Contains(m.Text, want) {
			return m, nil
		}
	}
	return devstack.Sent{}, fmt.Errorf("no reply says %q", want)
}

// specTask is a task line of the spec's message: "2. Title (a.go, b.go)".
var specTask = regexp.MustCompile(`(?m)^\d+\. .*\(([^()]*)\)$`)

// specFiles lists the files a spec's message names, each once, in order.
func specFiles(text string) []string {
	var out []string
	for _, m := range specTask.FindAllStringSubmatch(text, -1) {
		for _, f := range strings.Split(m[1], ", ") {
			if f = strings.TrimSpace(f); f != "" && !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

// until waits for the replies to the user after seq after until one
// satisfies done, printing them as they come.
func (r *runner) until(ctx context.Context, after int, timeout time.Duration, done func(devstack.Sent) bool) ([]devstack.Sent, error) {
	deadline := time.Now().Add(timeout)
	var got []devstack.Sent
	for {
		all, err := r.c.Sent(ctx, after)
		if err != nil {
			return got, err
		}
		for _, m := range all {
			after = m.Seq
			if m.ChatID != r.u.ID {
				continue
			}
			got = append(got, m)
			r.show("%s", devstack.FormatReply(m))
			if done(m) {
				return got, nil
			}
		}
		if time.Now().After(deadline) {
			return got, fmt.Errorf("no final reply within %s (%d replies)", timeout, len(got))
		}
		select {
		case <-ctx.Done():
			return got, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// staticProblems checks files with the build's static checks
// (langcheck.CheckAll: each file parses for its language), and that every
// file, including those no checker reads (go.mod), is text: one line per
// problem.
func staticProblems(files map[string][]byte) []string {
	var out []string
	for _, p := range langcheck.CheckAll(files) {
		out = append(out, p.String())
	}
	var names []string
	for n, data := range files {
		if !textfile.Is(data) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		out = append(out, n+": not a text file (UTF-8, no NUL bytes)")
	}
	return out
}

// checksSummary says what the static checks covered: "5 Go, 1 Markdown
// parse; go.mod is text".
func checksSummary(files map[string][]byte) string {
	byLang := map[string]int{}
	var langs, unchecked []string
	for n := range files {
		l := langcheck.Language(n)
		if l == "" {
			unchecked = append(unchecked, n)
			continue
		}
		if byLang[l] == 0 {
			langs = append(langs, l)
		}
		byLang[l]++
	}
	slices.Sort(langs)
	slices.Sort(unchecked)
	var parts []string
	for _, l := range langs {
		parts = append(parts, fmt.Sprintf("%d %s", byLang[l], langName(l)))
	}
	s := strings.Join(parts, ", ") + " parse"
	switch len(unchecked) {
	case 0:
	case 1:
		s += "; " + unchecked[0] + ", which no checker reads, is text"
	default:
		s += "; " + strings.Join(unchecked, ", ") + ", which no checker reads, are text"
	}
	return s
}

// langName is a langcheck language as people write it.
func langName(l string) string {
	switch l {
	case "go":
		return "Go"
	case "json", "jsonc", "yaml", "toml", "html", "css":
		return strings.ToUpper(l)
	}
	return strings.ToUpper(l[:1]) + l[1:]
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func short(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
