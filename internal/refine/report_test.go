package refine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/editblock"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/refine"
)

// A direct edit that does not apply is answered with the editor's report
// rendered for Telegram (bold, <pre>, escaped) and worded for its author,
// the user: no Markdown headings or fences, no "the reply".
func TestDirectEditRefusalIsRenderedForTheUser(t *testing.T) {
	t.Parallel()
	instruction := "a.go\n```\n<<<<<<< SEARCH\npackage  a <b>\n=======\npackage b\n>>>>>>> REPLACE\n```"
	for _, wrap := range []struct {
		name string
		f    func(error) error
	}{
		{"as the editor returns it", func(err error) error { return err }},
		{"as the consumer wraps it", func(err error) error {
			return fault.AsPermanent(fmt.Errorf("%w (%w)", &refine.NoValidEditError{Report: err.Error()}, err))
		}},
	} {
		t.Run(wrap.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
				_, err := editblock.ApplyDirect(r.Path, r.Content, instruction)
				return refine.EditOutcome{}, wrap.f(err)
			})
			j, m := b.job(t, db.ModeDirect, 1)
			if err := b.runner.Handle(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			sent := b.tg.Sent(chat)
			if len(sent) != 1 {
				t.Fatalf("%d replies", len(sent))
			}
			text := sent[0].Text()
			t.Logf("the reply:\n%s", text)
			for _, bad := range []string{"##", "```", "the reply", "&lt;pre&gt;"} {
				if strings.Contains(text, bad) {
					t.Errorf("the reply shows %q:\n%s", bad, text)
				}
			}
			for _, want := range []string{"Your edit does not apply to a.go", "<b>", "<pre>", "your message",
				"package  a &lt;b&gt;", "Did you mean", "package a"} {
				if !strings.Contains(text, want) {
					t.Errorf("the reply lacks %q:\n%s", want, text)
				}
			}
			got, _ := b.state(t, j.ID)
			if got.Error == nil || strings.Contains(*got.Error, "<pre>") {
				t.Errorf("the recorded error should stay plain text: %v", got.Error)
			}
		})
	}
}

// A refusal whose quoted lines would not fit one message is said without
// them rather than split inside a <pre> block (which Telegram refuses).
func TestHugeDirectEditRefusalFitsOneMessage(t *testing.T) {
	t.Parallel()
	line := strings.Repeat("<", 160)
	instruction := "a.go\n<<<<<<< SEARCH\n" + strings.Repeat(line+"\n", 12) + "=======\nx\n>>>>>>> REPLACE\n" +
		"a.go\n<<<<<<< SEARCH\n" + strings.Repeat(line+"x\n", 12) + "=======\nx\n>>>>>>> REPLACE\n"
	b := setup(t, func(ctx context.Context, r refine.EditRequest) (refine.EditOutcome, error) {
		_, err := editblock.ApplyDirect(r.Path, r.Content, instruction)
		return refine.EditOutcome{}, err
	})
	_, m := b.job(t, db.ModeDirect, 1)
	if err := b.runner.Handle(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	sent := b.tg.Sent(chat)
	if len(sent) != 1 || !strings.Contains(sent[0].Text(), "Your edit does not apply to a.go") {
		t.Fatalf("replies = %q", sent)
	}
}
