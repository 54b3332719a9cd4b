package build

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"regexp"
	"strings"
	"time"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/reply"
)

// notify queues a message of the build (sent after the step commits).
func (r *Runner) notify(ctx context.Context, q db.Querier, b db.Build, rep reply.Reply) error {
	return Notify(ctx, q, b.ID, rep)
}

// Notify queues a message of build id, in the caller's transaction.
func Notify(ctx context.Context, q db.Querier, id int64, rep reply.Reply) error {
	var buttons json.RawMessage
	if len(rep.Buttons) > 0 {
		buttons, _ = json.Marshal(rep.Buttons)
	}
	return db.AddOutbox(ctx, q, id, "message", rep.HTML, buttons)
}

// progress queues a short progress line (before there is a task list).
func (r *Runner) progress(ctx context.Context, q db.Querier, b db.Build, line string) error {
	return db.AddOutbox(ctx, q, b.ID, "progress", html.EscapeString(line), nil)
}

// progressOf queues the progress message as the build now stands.
func (r *Runner) progressOf(ctx context.Context, q db.Querier, b db.Build, spec Spec, tasks []db.BuildTask) error {
	return QueueProgress(ctx, q, b, spec, tasks)
}

// QueueProgress queues the build's progress message as b and tasks stand,
// with the buttons its state offers.
func QueueProgress(ctx context.Context, q db.Querier, b db.Build, spec Spec, tasks []db.BuildTask) error {
	html, buttons := RenderProgress(b, spec, tasks)
	var bj json.RawMessage
	if len(buttons) > 0 {
		bj, _ = json.Marshal(buttons)
	}
	return db.AddOutbox(ctx, q, b.ID, "progress", html, bj)
}

// RenderProgress is the progress message: a bar, a mark per task, the
// current task and its round, the credits spent, and the buttons the state
// offers.
func RenderProgress(b db.Build, spec Spec, tasks []db.BuildTask) (string, [][]reply.Button) {
	done := 0
	for _, t := range tasks {
		if t.State == db.TaskApproved || t.State == db.TaskSkipped {
			done++
		}
	}
	const width = 10
	filled := 0
	if len(tasks) > 0 {
		filled = done * width / len(tasks)
	}
	var sb strings.Builder
	head := "Building"
	switch b.State {
	case db.BuildDone:
		head = "Built"
	case db.BuildPaused:
		head = "Paused:"
	case db.BuildCancelled:
		head = "Cancelled:"
	case db.BuildBlocked:
		head = "Stopped at a task:"
	case db.BuildFailed:
		head = "Failed:"
	}
	fmt.Fprintf(&sb, "%s <b>%s</b>  %s%s  %d/%d\n", head, htmlEscape(spec.Title), strings.Repeat("▓", filled),
		strings.Repeat("░", width-filled), done, len(tasks))
	for i, t := range tasks {
		var task Task
		_ = json.Unmarshal(t.Task, &task)
		mark := "◻️"
		note := ""
		switch {
		case t.State == db.TaskApproved:
			mark = "✅"
		case t.State == db.TaskSkipped:
			mark, note = "⏭", " — skipped"
		case t.State == db.TaskFailed:
			mark, note = "❌", " — did not pass"
		case i == b.CurrentTask && b.State == db.BuildRunning:
			mark = "⏳"
			if t.Round > 0 && t.Feedback != nil {
				note = fmt.Sprintf(" — %s, fixing (round %d)", shortFeedback(t), t.Round+1)
			}
		}
		fmt.Fprintf(&sb, "%s %d %s%s\n", mark, t.N, htmlEscape(task.Title), htmlEscape(note))
	}
	if b.State == db.BuildRunning && b.CurrentTask == len(tasks) {
		sb.WriteString("⏳ README.md\n")
	}
	fmt.Fprintf(&sb, "%s so far.", count(int(b.ChargedCredits), "credit"))
	return sb.String(), controlButtons(b.ID, b.State)
}

// shortFeedback says what the last round asked for, in a few words.
func shortFeedback(t db.BuildTask) string {
	if len(t.Rounds) == 0 {
		return "reworking"
	}
	rd := t.Rounds[len(t.Rounds)-1]
	switch {
	case rd.Error != "":
		return "the change did not apply"
	case rd.Checks != "":
		return "a file did not parse"
	case len(rd.Reasons) > 0:
		s := rd.Reasons[0]
		if len([]rune(s)) > 60 {
			s = string([]rune(s)[:59]) + "…"
		}
		return "review asked: " + s
	}
	return "reworking"
}

// controlButtons are the buttons a build in state offers.
func controlButtons(id int64, state string) [][]reply.Button {
	b := func(text, kind string) reply.Button {
		return reply.Button{Text: text, Data: fmt.Sprintf("%s:%d", kind, id)}
	}
	switch state {
	case db.BuildProposed:
		return [][]reply.Button{{b("Start", "bstart"), b("Change", "bchange"), b("Cancel", "bcancel")}}
	case db.BuildRunning:
		return [][]reply.Button{{b("Pause", "bpause"), b("Cancel", "bcancel")}}
	case db.BuildPaused:
		return [][]reply.Button{{b("Resume", "bresume"), b("Cancel", "bcancel")}}
	}
	return nil
}

// Buttons are the buttons a build offers as it stands (/status shows them).
func Buttons(b db.Build) [][]reply.Button {
	if b.State == db.BuildBlocked {
		return blockedButtons(b.ID)
	}
	return controlButtons(b.ID, b.State)
}

// blockedButtons are the choices after a task failed its rounds.
func blockedButtons(id int64) [][]reply.Button {
	b := func(text, kind string) reply.Button {
		return reply.Button{Text: text, Data: fmt.Sprintf("%s:%d", kind, id)}
	}
	return [][]reply.Button{{b("Retry", "bretry"), b("Skip", "bskip")}, {b("Change the task", "bchange"), b("Stop", "bcancel")}}
}

func htmlEscape(s string) string { return html.EscapeString(s) }

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// duration says how long in a person's words: "3 min 10 s".
func duration(d time.Duration) string {
	d = d.Round(time.Second)
	if d < time.Minute {
		return fmt.Sprintf("%d s", int(d.Seconds()))
	}
	return fmt.Sprintf("%d min %d s", int(d.Minutes()), int(d.Seconds())%60)
}

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

// slug is a file name made of a title: "Todo API" → "todo-api".
func slug(s string) string {
	s = strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if s == "" {
		return "project"
	}
	if len(s) > 40 {
		s = strings.TrimRight(s[:40], "-")
	}
	return s
}
