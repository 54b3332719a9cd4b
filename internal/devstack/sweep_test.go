package devstack_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/devstack"
)

// devbot dev ticks the sweeper: a job stuck for hours is failed, its
// credits released, and its user told, with nobody asking.
func TestStackSweepsPeriodically(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env := map[string]string{"DATABASE_URL": dbtest.URL(t), "DATABASE_EXEC_MODE": dbtest.ExecMode(), "DEV_SWEEP_EVERY": "300ms"}
	var console bytes.Buffer
	s, err := devstack.Start(ctx, devstack.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(),
		Lookup:  func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Console: &console, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("Start: %v\n%s", err, console.String())
	}
	defer s.Close()
	if !strings.Contains(console.String(), "sweep: a tick to /Sweeper every 300ms") {
		t.Errorf("start-up output:\n%s", console.String())
	}
	u, _, err := db.EnsureUser(ctx, s.DB.Pool, db.TelegramUser{TelegramID: 31, ChatID: 31, FirstName: "Ann"}, 50)
	if err != nil {
		t.Fatal(err)
	}
	p, err := db.CreateProject(ctx, s.DB.Pool, u.ID, "api")
	if err != nil {
		t.Fatal(err)
	}
	j, err := db.CreateJob(ctx, s.DB.Pool, db.NewJob{UserID: u.ID, ProjectID: p.ID, Path: "a.go", Instruction: "x", Mode: db.ModeLLM,
		ChatID: 31, HoldCredits: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB.Pool.Exec(ctx, `UPDATE refine_jobs SET created_at = now() - interval '3 hours' WHERE id = $1`, j.ID); err != nil {
		t.Fatal(err)
	}
	sent := s.BotAPI.WaitSent(t, 31, 1, time.Minute)
	if len(sent) != 1 || !strings.Contains(sent[0].Text(), "could not finish") {
		t.Errorf("messages %v", sent)
	}
	got, _ := db.GetJob(ctx, s.DB.Pool, j.ID)
	after, _ := db.UserByID(ctx, s.DB.Pool, u.ID)
	if got.State != db.JobFailed || after.Held != 0 {
		t.Errorf("job %s, held %d; want failed, 0", got.State, after.Held)
	}
}
