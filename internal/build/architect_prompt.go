package build

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/devbot-hq/devbot/internal/llm"
)

// The architect's system prompts, in our own words. They are kept as a
// golden file (testdata/architect_prompts.golden): a change to them shows
// in review.
const (
	clarifyPrompt = `You are the architect of a small software project that an automated builder will write from a description a user sent in a chat. Before anything is planned, decide whether the description is clear enough to plan from.

Ask only what would change the plan: what kind of program it is (a web page, a JSON API, a command line tool, a bot), who uses it, where its data is kept, a language or framework the user may care about, what is out of scope. Do not ask what a sensible default settles: you will choose the default yourself when you plan. Most descriptions are clear enough: then ask nothing.

Ask at most three questions, all in this one message. Each is one short sentence, answerable in a few words, with no numbering.

Answer with a JSON object only: {"questions": ["..."]}, with an empty list when there is nothing to ask.`

	specPrompt = `You are the architect of a software project that an automated builder writes from a user's description. An editor model carries out your plan one task at a time, seeing only that task and the files it names, and you review each task's change against its done_when. Write the plan as a spec.

The spec is a JSON object:
- title: a short name for the project, like a repository name (at most 60 characters).
- summary: one sentence saying what is built, with what, and where its data is kept.
- stack: the languages, frameworks, databases and test tools, with versions where they matter.
- tasks: 1 to 12 tasks, in the order they are built. Each has:
  - title: a few words, at most 60 characters, different from every other task's.
  - does: what the task adds or changes, concretely enough to be done from this text and the files alone.
  - files: the paths of the files the task creates or changes, relative to the project's root (like app.py or src/db/schema.sql); at least one.
  - done_when: how a reviewer tells from the change that the task is done: observable facts about the code and its tests (for example "GET /todos returns the stored todos as JSON; test_list_todos covers it"), never "works well".

Rules:
- Build what the description asks for and nothing more: no extra features, and no deployment or CI unless asked.
- The first task sets up the skeleton: the entry point, the dependencies, the configuration. Each task leaves the project working; later tasks build on earlier ones.
- Keep each task to a few files; split a task that would touch many.
- Where the stack has a usual test tool, include tests, in the task whose code they test or in a task of their own.
- What the user said wins over your defaults. Where the user said nothing, choose common, well-supported defaults and name them in the stack.
- When asked to change the spec, make that change and keep the rest as it was (the same tasks, titles, files and wording) unless the change requires otherwise.
- If an answer of yours is refused, you will be told what is wrong with it: answer with the whole corrected spec.

Answer with the JSON object only.`

	reviewPrompt = `You are the architect of a software project, reviewing one task of the spec you wrote. An editor model made the task's change; you see the task, the change as a unified diff, and the report of the project's static checks. Decide whether the task is done.

Judge the change against the task's done_when, and only against it:
- Approve when the change meets done_when, even if the code could be shorter, cleaner or more idiomatic. Style and taste are not reasons to reject, and neither is work that later tasks of the spec will do.
- Reject when done_when is not met: a part of it missing, code that cannot work as written (a call to something that does not exist, a syntax error, a missing import), a test that would fail, a change that breaks what earlier tasks built, or static checks reporting errors in the changed files.
- Each reason for a rejection says what is wrong, where (the file, and the function or line), and which part of done_when it fails, so that the editor can fix it from that reason alone. Never give vague reasons such as "needs improvement" or "incomplete".
- When you approve, give no reasons, or briefly note what a later task should keep in mind.

Answer with a JSON object only: {"approve": true or false, "reasons": ["..."]}.`
)

// Formats of the architect's answers.
var (
	questionsFormat = llm.Format{Name: "questions", Schema: QuestionsSchema, Strict: true}
	specFormat      = llm.Format{Name: "spec", Schema: SpecSchema, Strict: true}
	verdictFormat   = llm.Format{Name: "verdict", Schema: VerdictSchema, Strict: true}
)

// Bounds of what a review shows the model.
const (
	maxDiff   = 120_000 // bytes of a task's diff
	maxChecks = 20_000  // bytes of the static checks' report
	maxListed = 20      // problems listed in a repair turn
)

// threadMessages turns the conversation into chat messages; its first
// turn, when the user's, is the description.
func threadMessages(thread []Turn) []llm.Message {
	msgs := make([]llm.Message, 0, len(thread))
	for i, t := range thread {
		text := strings.TrimSpace(t.Text)
		if i == 0 && t.Role == "user" {
			text = "The project to build:\n\n" + text
		}
		msgs = append(msgs, llm.Message{Role: t.Role, Content: text})
	}
	return msgs
}

const proposeTurn = "Write the spec for this project."

// reviseTurn asks for change to the spec the model last answered with.
func reviseTurn(change string) string {
	return "Change the spec: " + strings.TrimSpace(change) +
		"\n\nAnswer with the whole revised spec. Keep everything the change does not touch as it is."
}

// specJSON is the spec as the model would have answered it.
func specJSON(s Spec) string {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil { // cannot be: a Spec is strings and slices
		panic(err)
	}
	return string(b)
}

// reviewTurn shows the project, the task and its change.
func reviewTurn(s Spec, i int, diff, checks string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "The project: %s — %s\nStack: %s\nIts tasks:\n", s.Title, s.Summary, strings.Join(s.Stack, ", "))
	for k, t := range s.Tasks {
		fmt.Fprintf(&b, "%d. %s (%s)\n", k+1, t.Title, strings.Join(t.Files, ", "))
	}
	t := s.Tasks[i]
	fmt.Fprintf(&b, "\nThe task to review: task %d, %s.\nDoes: %s\nFiles: %s\nDone when: %s\n",
		i+1, t.Title, t.Does, strings.Join(t.Files, ", "), t.DoneWhen)
	if strings.TrimSpace(diff) == "" {
		b.WriteString("\nThe change: none. The editor changed no file.\n")
	} else {
		diff = cut(diff, maxDiff, "the diff")
		f := fenceFor(diff)
		fmt.Fprintf(&b, "\nThe change:\n%sdiff\n%s\n%s\n", f, strings.TrimRight(diff, "\n"), f)
	}
	if strings.TrimSpace(checks) == "" {
		b.WriteString("\nThe static checks: nothing to report.")
	} else {
		checks = cut(checks, maxChecks, "the report")
		f := fenceFor(checks)
		fmt.Fprintf(&b, "\nThe static checks reported:\n%s\n%s\n%s", f, strings.TrimRight(checks, "\n"), f)
	}
	return b.String()
}

// repairTurn tells the model what is wrong with its last answer.
func repairTurn(ps []Problem, cutOff bool) string {
	var b strings.Builder
	if cutOff {
		b.WriteString("Your answer was cut off: it was too long. Make it shorter: fewer words, and no more tasks than needed.\n\n")
	}
	b.WriteString("Your answer was refused:\n")
	for i, p := range ps {
		if i == maxListed {
			fmt.Fprintf(&b, "- and %d more\n", len(ps)-maxListed)
			break
		}
		b.WriteString("- " + p.String() + "\n")
	}
	b.WriteString("\nAnswer again with the whole corrected JSON object only.")
	return b.String()
}

// cut bounds s to n bytes, at a line's end where it can, and says so.
func cut(s string, n int, what string) string {
	if len(s) <= n {
		return s
	}
	k := strings.LastIndexByte(s[:n], '\n')
	if k < n/2 {
		k = n
		for k > 0 && !utf8.RuneStart(s[k]) {
			k--
		}
	}
	return s[:k] + fmt.Sprintf("\n[%s is cut here: %d more bytes are not shown]\n", what, len(s)-k)
}

// fenceFor returns a fence of backticks longer than any run of backticks
// in s.
func fenceFor(s string) string {
	n, run := 3, 0
	for i := 0; i < len(s); i++ {
		if s[i] == '`' {
			run++
			n = max(n, run+1)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", n)
}
