package main

import (
	"bytes"
	"context"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/devstack"
)

// lockedBuffer collects a child's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// devbot dev as an operator runs it: a separate process with no
// configuration, devbot say round-trips a message through it, and Ctrl-C
// leaves no process, no state file and no temporary cluster behind.
func TestDevSayAndCleanShutdown(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "devbot")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data := t.TempDir()
	cmd := exec.Command(bin, "dev", "--addr", "127.0.0.1:0", "--data", data)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TMPDIR=" + os.TempDir()}
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
		}
	}()

	var st devstack.State
	deadline := time.Now().Add(90 * time.Second)
	for {
		var err error
		if st, err = devstack.ReadState(data); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("devbot dev did not become ready:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, want := range []string{"throwaway cluster on port", "pubsub: embedded", "storage: local files", "ready: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the start-up output does not say %q:\n%s", want, out.String())
		}
	}
	clusterPort := between(out.String(), "throwaway cluster on port ", " ")

	code, stdout, stderr := runWith(t, map[string]string{}, "say", "--data", data, "--wait", "5s", "/start")
	if code != 0 || !strings.Contains(stdout, "Hi Dev") || !strings.Contains(stdout, "credits") {
		t.Fatalf("say /start: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	// The dev console shows the same reply, as a chat would.
	waitFor(t, func() bool { return strings.Contains(out.String(), "Hi Dev") }, 5*time.Second, "the console to print the reply")

	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		killed = true
		if err != nil {
			t.Fatalf("devbot dev exited with %v:\n%s", err, out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("devbot dev did not stop after Ctrl-C:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "devbot dev: stopped") {
		t.Errorf("no clean stop message:\n%s", out.String())
	}
	if _, err := os.Stat(filepath.Join(data, devstack.StateFile)); !os.IsNotExist(err) {
		t.Errorf("the state file was left behind: %v", err)
	}
	u, _ := url.Parse(st.URL)
	for _, addr := range []string{u.Host, "127.0.0.1:" + clusterPort} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after devbot dev stopped", addr)
		}
	}
	// Nothing of the process group survives (the cluster runs in a group of its own: checked by its port above).
	if err := syscall.Kill(-cmd.Process.Pid, 0); err == nil {
		t.Errorf("processes of devbot dev's group are still running")
	}
	clusterDir := between(out.String(), " in ", " (removed on exit)")
	if clusterDir == "" {
		t.Errorf("the output does not name the cluster's directory:\n%s", out.String())
	} else if _, err := os.Stat(clusterDir); !os.IsNotExist(err) {
		t.Errorf("the throwaway cluster's directory %s was left behind: %v", clusterDir, err)
	}
}

// The README's first command: devbot demo on a machine with no configuration.
func TestDemo(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"demo", "--fresh", "--data", t.TempDir()}, env{
		lookup: func(string) (string, bool) { return "", false }, stdout: &out, stderr: &errb})
	if code != 0 {
		t.Fatalf("demo exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"all 9 steps passed", "✅ cmd/main.go → version 2", "restored to version 1", "+100 purchase"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the transcript lacks %q", want)
		}
	}
}

func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, to)
	return v
}

func waitFor(t *testing.T, cond func() bool, timeout time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
