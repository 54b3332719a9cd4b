package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/dbtest"
)

func runWith(t *testing.T, envm map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, env{
		lookup: func(k string) (string, bool) { v, ok := envm[k]; return v, ok },
		stdout: &out, stderr: &errb, stdin: strings.NewReader(""),
	})
	return code, out.String(), errb.String()
}

func TestServeWithEmptyEnvironmentNamesEveryMissingVariable(t *testing.T) {
	t.Parallel()
	code, _, stderr := runWith(t, map[string]string{}, "serve")
	if code == 0 {
		t.Fatal("serve started with an empty environment")
	}
	for _, v := range []string{"DATABASE_URL", "GOOGLE_CLOUD_PROJECT", "TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET",
		"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "API_KEY_ENCRYPTION_KEY", "SUPABASE_URL", "SUPABASE_KEY"} {
		if !strings.Contains(stderr, v+" is required") {
			t.Errorf("error does not name %s:\n%s", v, stderr)
		}
	}
}

func TestServeOneTargetNeedsOnlyItsVariables(t *testing.T) {
	t.Parallel()
	code, _, stderr := runWith(t, map[string]string{"FUNCTION_TARGET": "TelegramWebhook"}, "serve")
	if code == 0 {
		t.Fatal("served without configuration")
	}
	if !strings.Contains(stderr, "TELEGRAM_WEBHOOK_SECRET is required") || strings.Contains(stderr, "DATABASE_URL") {
		t.Errorf("TelegramWebhook needs its secret and no database:\n%s", stderr)
	}
}

func TestUnknownTargetIsRefused(t *testing.T) {
	t.Parallel()
	code, _, stderr := runWith(t, map[string]string{"FUNCTION_TARGET": "NoSuchFunction"}, "serve")
	if code == 0 {
		t.Fatal("served an unknown target")
	}
	for _, want := range []string{"NoSuchFunction", "TelegramWebhook", "StripeWebhook", "TelegramUpdates", "RefineJobs", "StripeEvents"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("refusal does not name %s:\n%s", want, stderr)
		}
	}
}

func TestHelpListsCommands(t *testing.T) {
	t.Parallel()
	code, stdout, _ := runWith(t, nil, "help")
	if code != 0 || !strings.Contains(stdout, "serve") || !strings.Contains(stdout, "migrate") {
		t.Errorf("help: code %d\n%s", code, stdout)
	}
	if code, _, _ := runWith(t, nil, "frobnicate"); code != 2 {
		t.Errorf("unknown command exit %d, want 2", code)
	}
}

func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	url := dbtest.EmptyDatabase(t)
	code, stdout, stderr := runWith(t, map[string]string{"DATABASE_URL": url}, "migrate")
	if code != 0 || !strings.Contains(stdout, "applied") {
		t.Fatalf("first migrate: code %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, _ = runWith(t, map[string]string{"DATABASE_URL": url}, "migrate")
	if code != 0 || !strings.Contains(stdout, "up to date") {
		t.Fatalf("second migrate: code %d\n%s", code, stdout)
	}
}

// The shutdown lets a request that is in flight when SIGTERM arrives finish.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "finished")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serveUntilDone(ctx, newServer(h, time.Minute), ln, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	body := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			body <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body <- string(b)
	}()
	<-started
	cancel() // SIGTERM
	if got := <-body; got != "finished" {
		t.Errorf("in-flight request got %q, want it to finish", got)
	}
	if err := <-done; err != nil {
		t.Errorf("serve returned %v", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("still accepting connections after shutdown")
	}
}

// The real binary, as an operator runs it.
func TestBinary(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "devbot")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "FUNCTION_TARGET=NoSuchFunction"}
	out, err := cmd.CombinedOutput()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() == 0 {
		t.Fatalf("unknown target: err %v, output %s", err, out)
	}
	if !strings.Contains(string(out), "known targets: TelegramWebhook") {
		t.Errorf("output: %s", out)
	}

	// SIGTERM stops a serving process cleanly.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd = exec.Command(bin, "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "FUNCTION_TARGET=TelegramWebhook",
		"TELEGRAM_WEBHOOK_SECRET=s3cret", "GOOGLE_CLOUD_PROJECT=p", "PUBSUB_EMULATOR_HOST=127.0.0.1:1",
		"PORT=" + itoa(port)}
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("serve did not listen: %s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve after SIGINT: %v\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "shutting down") {
		t.Errorf("no shutdown log:\n%s", logs.String())
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
