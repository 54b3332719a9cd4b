package devstack_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/demo"
	"github.com/devbot-hq/devbot/internal/devstack"
	"github.com/devbot-hq/devbot/internal/scriptedmodel"
)

// The demo conversation, its build on the scripted model included, through
// both Pub/Sub backends: the embedded push loop and the real emulator with
// real push subscriptions. The scripted model is asked for by DEV_MODEL
// (embedded) or Options.Model (emulator), and wins over a model the
// environment configures; a plain /refine on it gets its question.
func TestStackRunsTheDemo(t *testing.T) {
	t.Parallel()
	for _, ps := range []string{"embedded", "emulator"} {
		t.Run(ps, func(t *testing.T) {
			t.Parallel()
			if ps == "emulator" && testing.Short() {
				t.Skip("starts the Pub/Sub emulator (Java); -short skips it")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			env := map[string]string{"DATABASE_URL": dbtest.URL(t), "DATABASE_EXEC_MODE": dbtest.ExecMode(),
				"LLM_API_KEY": "sk-operator", "LLM_BASE_URL": "http://model.invalid/v1", "ARCHITECT_MODEL": "big/architect"}
			model := ""
			if ps == "embedded" {
				env["DEV_MODEL"] = "scripted"
			} else {
				model = devstack.ModelScripted
			}
			var console bytes.Buffer
			s, err := devstack.Start(ctx, devstack.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), PubSub: ps, Model: model,
				Lookup:  func(k string) (string, bool) { v, ok := env[k]; return v, ok },
				Console: &console, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatalf("Start: %v\n%s", err, console.String())
			}
			defer s.Close()
			for _, want := range []string{"pubsub: ", "/BuildSteps", devstack.ModelNote, "ready: "} {
				if !strings.Contains(console.String(), want) {
					t.Errorf("the start-up output does not say %q:\n%s", want, console.String())
				}
			}
			if c := s.Config; c.LLMBaseURL != s.URL+"/_dev/model/v1" || c.ArchitectBaseURL != c.LLMBaseURL ||
				c.LLMAPIKey != devstack.ScriptedKey || c.ArchitectModel != scriptedmodel.ModelName || c.BuildTaskCredits != 4 {
				t.Errorf("the model settings are not the scripted model's: %s %s %s %s, a task estimated at %d credits",
					c.LLMBaseURL, c.ArchitectBaseURL, c.LLMAPIKey, c.ArchitectModel, c.BuildTaskCredits)
			}
			var transcript bytes.Buffer
			c := devstack.NewClient(s.URL, s.WebhookSecret)
			ann := devstack.User{ID: 777, FirstName: "Ann"}
			if err := demo.Run(ctx, c, ann, &transcript); err != nil {
				t.Fatalf("demo: %v\n%s", err, transcript.String())
			}
			after, err := c.LastSeq(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.SendText(ctx, ann, "/refine add a --verbose flag"); err != nil {
				t.Fatal(err)
			}
			replies, err := c.WaitReplies(ctx, ann.ID, after, 2, 30*time.Second)
			if err != nil || len(replies) < 2 || !strings.Contains(replies[len(replies)-1].Text, "scripted model") {
				t.Errorf("a plain /refine on the scripted model: %v %+v", err, replies)
			}
			// A wrong secret is refused at the webhook and publishes nothing.
			bad := devstack.NewClient(s.URL, "wrong")
			if _, err := bad.SendText(ctx, devstack.User{ID: 778}, "/start"); err == nil || !strings.Contains(err.Error(), "401") {
				t.Errorf("wrong secret: err = %v, want a 401", err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if err := c.Ping(ctx); err == nil {
				t.Error("the stack still answers after Close")
			}
		})
	}
}

// The demo refuses a stack without the scripted model before its first
// step, and a model Start does not know is refused before anything starts.
func TestModelOption(t *testing.T) {
	t.Parallel()
	_, err := devstack.Start(context.Background(), devstack.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Model: "gpt"})
	if err == nil || !strings.Contains(err.Error(), "configured or scripted") {
		t.Errorf("Start with model gpt: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env := map[string]string{"DATABASE_URL": dbtest.URL(t), "DATABASE_EXEC_MODE": dbtest.ExecMode()}
	var console bytes.Buffer
	s, err := devstack.Start(ctx, devstack.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(),
		Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }, Console: &console})
	if err != nil {
		t.Fatalf("Start: %v\n%s", err, console.String())
	}
	defer s.Close()
	if s.Model != devstack.ModelConfigured || !strings.Contains(console.String(), "model: none configured (set LLM_API_KEY, or use --model=scripted") {
		t.Errorf("model %q; start-up output:\n%s", s.Model, console.String())
	}
	c := devstack.NewClient(s.URL, s.WebhookSecret)
	var transcript bytes.Buffer
	err = demo.Run(ctx, c, devstack.User{ID: 779, FirstName: "Ann"}, &transcript)
	if err == nil || !strings.Contains(err.Error(), "needs the scripted model") || transcript.Len() > 0 {
		t.Errorf("demo on a stack without the scripted model: %v\n%s", err, transcript.String())
	}
}
