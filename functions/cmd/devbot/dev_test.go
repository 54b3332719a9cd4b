package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/devstack"
	"github.com/devbot-hq/devbot/internal/pgtemp"
	"github.com/devbot-hq/devbot/internal/storage/storagetest"
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

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// devbotBinary builds devbot once for the tests that run it as a user does.
func devbotBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "devbot-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "devbot")
		if out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// devbot dev as an operator runs it: a separate process with no
// configuration, devbot say round-trips a message through it, and Ctrl-C
// leaves no process, no state file and no throwaway cluster behind.
func TestDevSayAndCleanShutdown(t *testing.T) {
	t.Parallel()
	bin := devbotBinary(t)
	data := dataDir(t)
	cmd := exec.Command(bin, "dev", "--addr", "127.0.0.1:0", "--data", data, "--fresh")
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
	if !strings.Contains(out.String(), "model: none configured") {
		t.Errorf("the start-up output does not say there is no model:\n%s", out.String())
	}

	code, stdout, stderr := runWith(t, map[string]string{}, "say", "--data", data, "--wait", "5s", "/start")
	if code != 0 || !strings.Contains(stdout, "Hi Dev") || !strings.Contains(stdout, "credits") {
		t.Fatalf("say /start: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	// The dev console shows the same reply, as a chat would.
	waitFor(t, func() bool { return strings.Contains(out.String(), "Hi Dev") }, 5*time.Second, "the console to print the reply")

	// devbot demo needs the scripted model: it does not play on this stack,
	// which has none, but on one of its own.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var demoOut, demoErr bytes.Buffer
	if code := run(ctx, []string{"demo", "--data", data}, env{lookup: func(string) (string, bool) { return "", false },
		stdout: &demoOut, stderr: &demoErr}); code != 0 || !strings.Contains(demoOut.String(), "all 18 steps passed") ||
		!strings.Contains(demoOut.String(), "does not use the scripted model") || !strings.Contains(demoOut.String(), "demo: starting a stack of its own") {
		t.Errorf("demo next to a devbot dev without the scripted model: exit %d\n%s\n%s", code, demoOut.String(), demoErr.String())
	}

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
	checkDemoTranscript(t, out.String())
}

// checkDemoTranscript checks the key lines of a whole demo: the scripted
// model, the edits, and the build.
func checkDemoTranscript(t *testing.T, out string) {
	t.Helper()
	for _, want := range []string{"all 18 steps passed", "✅ cmd/main.go changed (", "restored to version 1", "✅ 3 files changed",
		"Undone: README.md, cmd/greeting.go and cmd/main.go are back as they were", "+100 purchase",
		// the build, on the scripted model
		devstack.ModelNote, "user: /build a small todo API", "Before I plan it, one question:", "Should the todos be kept in memory",
		"user: keep them in memory", "1. Server skeleton (go.mod, main.go)", "[Start] [Change] [Cancel]", "user: [taps Start]",
		"(an earlier message, edited in place)", "review asked: store.go", "fixing (round 2)", "[document todo-api.zip, ",
		"✅ todo-api is built: 7 files, 3 tasks", "todo-api.zip holds README.md, go.mod, handlers.go, handlers_test.go, main.go, store.go, store_test.go",
		"every file passes the static checks (langcheck: 5 Go, 1 Markdown parse; go.mod, which no checker reads, is text)", "recorded: build ", " done; ", "0 still held",
		"task 2, In-memory todo store: approved in 2 rounds", "the review rejected round 1: \"store.go, Store.Add"} {
		if !strings.Contains(out, want) {
			t.Errorf("the transcript lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("the transcript:\n%s", out)
	}
}

// devbot dev with DEV_MODEL=scripted: the stack says so, answers /build
// with the scripted question, and devbot demo plays on it (its build
// included) instead of starting a stack of its own.
func TestDevScriptedModelRunsTheDemo(t *testing.T) {
	t.Parallel()
	bin := devbotBinary(t)
	data := dataDir(t)
	p := startDev(t, bin, data, "DEV_MODEL=scripted")
	if !strings.Contains(p.out.String(), devstack.ModelNote) {
		t.Errorf("the start-up output does not say %q:\n%s", devstack.ModelNote, p.out.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"demo", "--data", data}, env{lookup: func(string) (string, bool) { return "", false }, stdout: &out, stderr: &errb})
	if code != 0 {
		t.Fatalf("demo exit %d\n%s\n%s\n%s", code, out.String(), errb.String(), p.out.String())
	}
	if !strings.Contains(out.String(), "demo: using the devbot dev running at "+p.st.URL) {
		t.Errorf("the demo did not use the running devbot dev:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "all 18 steps passed") || !strings.Contains(p.out.String(), "✅ todo-api is built") {
		t.Errorf("demo:\n%s\ndevbot dev's console:\n%s", out.String(), p.out.String())
	}
	p.stop(t, syscall.SIGINT)
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

// removeBuiltBin is called by TestMain (crash_test.go) once the tests ran.
func removeBuiltBin() {
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
}

// devProc is a devbot dev started by a test.
type devProc struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan error
	st   devstack.State
}

// startDev starts bin dev on data and waits until it is ready (its own
// state file, not one an earlier run left behind).
func startDev(t *testing.T, bin, data string, extraEnv ...string) *devProc {
	t.Helper()
	cmd := exec.Command(bin, "dev", "--addr", "127.0.0.1:0", "--data", data)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TMPDIR=" + os.TempDir()}, extraEnv...)
	p := &devProc{cmd: cmd, out: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	// A group of its own, as a shell job: the test's signals reach only it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	})
	deadline := time.Now().Add(90 * time.Second)
	for {
		if st, err := devstack.ReadState(data); err == nil && st.PID == cmd.Process.Pid {
			p.st = st
			return p
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("devbot dev exited (%v) before it was ready:\n%s", err, p.out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("devbot dev did not become ready:\n%s", p.out.String())
		}
	}
}

// stop sends sig and waits for a clean exit.
func (p *devProc) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("devbot dev exited with %v after %v:\n%s", err, sig, p.out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("devbot dev did not stop after %v:\n%s", sig, p.out.String())
	}
	if !strings.Contains(p.out.String(), "devbot dev: stopped") {
		t.Errorf("no clean stop message after %v:\n%s", sig, p.out.String())
	}
}

func sayVia(t *testing.T, data, text, want string) {
	t.Helper()
	code, stdout, stderr := runWith(t, map[string]string{}, "say", "--data", data, "--wait", "5s", text)
	if code != 0 || !strings.Contains(stdout, want) {
		t.Fatalf("say %s: exit %d, want a reply with %q\nstdout: %s\nstderr: %s", text, code, want, stdout, stderr)
	}
}

// postmasterPID reads the pid of the local cluster kept in data.
func postmasterPID(t *testing.T, data string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, "postgres", "data", "postmaster.pid"))
	if err != nil {
		t.Fatalf("the local cluster is not in the data directory: %v", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	var pid int
	if _, err := fmt.Sscan(first, &pid); err != nil {
		t.Fatal(err)
	}
	return pid
}

// dataDir is a data directory for devbot dev that the postgres user can
// reach when the tests run as root (t.TempDir's parent is 0700, which would
// send the cluster to /var/tmp), so the cluster is removed with it.
func dataDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	if err := os.Chmod(filepath.Dir(d), 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// gone says whether pid has exited (a zombie not yet reaped by init, as
// a stopped postmaster whose parent pg_ctl exited, counts as gone).
func gone(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return strings.HasPrefix(rest, "Z")
}

// goneSoon waits a little for pid to exit: pg_ctl stop returns once the
// server has removed its postmaster.pid, a moment before its process ends.
func goneSoon(pid int) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if gone(pid) {
			return true
		}
	}
	return false
}

// Projects live in the database and files in the data directory: a restart
// keeps both. Closing the terminal (SIGHUP) stops devbot dev as Ctrl-C
// does, leaving no PostgreSQL and no state file. LOG_FORMAT is honoured,
// and the hint names a command that runs.
func TestDevRestartKeepsProjectsAndSIGHUPStopsCleanly(t *testing.T) {
	t.Parallel()
	bin := devbotBinary(t)
	data := dataDir(t)
	first := startDev(t, bin, data, "LOG_FORMAT=json")
	sayVia(t, data, "/new alpha", "Project alpha created")
	pg := postmasterPID(t, data)
	if !strings.Contains(first.out.String(), `"message":"migration applied"`) {
		t.Errorf("LOG_FORMAT=json (and the default level, info) gave no JSON log of the migrations:\n%s", first.out.String())
	}
	if want := "try it: " + bin + " say --data " + data + ` "/start"`; !strings.Contains(first.out.String(), want) {
		t.Errorf("the hint is not %q:\n%s", want, first.out.String())
	}

	first.stop(t, syscall.SIGHUP)
	if !goneSoon(pg) {
		t.Errorf("the local PostgreSQL (pid %d) is still running after SIGHUP", pg)
	}
	if _, err := os.Stat(filepath.Join(data, devstack.StateFile)); !os.IsNotExist(err) {
		t.Errorf("the state file was left behind after SIGHUP: %v", err)
	}

	second := startDev(t, bin, data)
	if !strings.Contains(second.out.String(), "kept from the last run") {
		t.Errorf("the second start does not say it reuses the cluster:\n%s", second.out.String())
	}
	sayVia(t, data, "/projects", "alpha")
	second.stop(t, syscall.SIGINT)
}

// kill -9 leaves the local PostgreSQL running (in a process group of its
// own) and the state file behind: the next start stops that server, removes
// the file, and works on the same data.
func TestDevRecoversAfterKill9(t *testing.T) {
	t.Parallel()
	bin := devbotBinary(t)
	data := dataDir(t)
	first := startDev(t, bin, data)
	sayVia(t, data, "/new beta", "Project beta created")
	pg := postmasterPID(t, data)
	first.cmd.Process.Kill()
	<-first.done
	first.done <- nil
	if gone(pg) {
		t.Fatalf("the test expects kill -9 to leave PostgreSQL (pid %d) running", pg)
	}

	second := startDev(t, bin, data)
	out := second.out.String()
	for _, want := range []string{"removed the state file of an earlier devbot dev", "stopped the PostgreSQL server an earlier run left running"} {
		if !strings.Contains(out, want) {
			t.Errorf("the start after kill -9 does not say %q:\n%s", want, out)
		}
	}
	if !goneSoon(pg) {
		t.Errorf("the orphaned PostgreSQL (pid %d) is still running", pg)
	}
	sayVia(t, data, "/projects", "beta")
	second.stop(t, syscall.SIGINT)
}

// Two devbot dev on one data directory would share its cluster: the second
// refuses, naming the first.
func TestDevRefusesASecondStackOnTheSameData(t *testing.T) {
	t.Parallel()
	bin := devbotBinary(t)
	data := dataDir(t)
	first := startDev(t, bin, data)
	// Before the check, the second one started too and ran until killed.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "dev", "--addr", "127.0.0.1:0", "--data", data)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), fmt.Sprintf("already running from %s (pid %d", data, first.cmd.Process.Pid)) {
		t.Errorf("a second devbot dev on the same data: err %v\n%s", err, out)
	}
	sayVia(t, data, "/start", "credits")
	first.stop(t, syscall.SIGINT)
}

func TestSelfCommand(t *testing.T) {
	t.Parallel()
	wd, _ := os.Getwd()
	exe := func(p string) func() (string, error) { return func() (string, error) { return p, nil } }
	noPath := func(string) (string, error) { return "", exec.ErrNotFound }
	cases := []struct {
		exe  string
		look func(string) (string, error)
		want string
	}{
		{"/tmp/go-build123/b001/exe/devbot", noPath, "go run ./functions/cmd/devbot"},
		{"/opt/bin/devbot", func(string) (string, error) { return "/opt/bin/devbot", nil }, "devbot"},
		{"/opt/bin/devbot", noPath, "/opt/bin/devbot"},
		{"/opt/bin/devbot", func(string) (string, error) { return "/usr/bin/devbot", nil }, "/opt/bin/devbot"},
		{filepath.Join(wd, "devbot"), noPath, "./devbot"},
	}
	for _, c := range cases {
		if got := selfCommand(exe(c.exe), c.look); got != c.want {
			t.Errorf("selfCommand(%s) = %q, want %q", c.exe, got, c.want)
		}
	}
}

func TestDevLogSettings(t *testing.T) {
	t.Parallel()
	none := func(string) (string, bool) { return "", false }
	if got := logLevel(none); got != "info" {
		t.Errorf("default LOG_LEVEL = %q, want info (as .env.example says)", got)
	}
	if got := logFormat(none); got != "text" {
		t.Errorf("default LOG_FORMAT = %q, want text", got)
	}
	set := func(k string) (string, bool) {
		return map[string]string{"LOG_LEVEL": "debug", "LOG_FORMAT": "json"}[k], true
	}
	if logLevel(set) != "debug" || logFormat(set) != "json" {
		t.Errorf("LOG_LEVEL/LOG_FORMAT not honoured: %q %q", logLevel(set), logFormat(set))
	}
}

// Supabase's transaction pooler keeps no prepared statement from one
// transaction to the next: behind it DATABASE_EXEC_MODE=exec is needed, and
// demo --fresh must pass it on to its stack. Through PgBouncer with a pool
// of one, pgx's default (named, cached statements) fails at once with
// "prepared statement … already exists". (A reserve connection lets /balance,
// which queries on a second connection while its transaction is open, go on.)
func TestDemoThroughTransactionPooler(t *testing.T) {
	t.Parallel()
	direct, err := url.Parse(dbtest.EmptyDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	admin, _ := url.Parse(dbtest.AdminURL())
	b, err := pgtemp.StartBouncer(context.Background(), pgtemp.BouncerOptions{Upstream: admin.Host, PoolSize: 1, ReservePool: 1})
	if err != nil {
		t.Fatalf("this test needs PgBouncer: %v", err)
	}
	t.Cleanup(func() { b.Stop() })
	direct.Host = "127.0.0.1:" + strconv.Itoa(b.Port)
	out := playDemo(t, map[string]string{"DATABASE_URL": direct.String(), "DATABASE_EXEC_MODE": "exec"})
	if !strings.Contains(out, "DATABASE_EXEC_MODE=exec") {
		t.Errorf("the demo's stack does not query in the configured exec mode:\n%s", out)
	}
}

// demo --fresh uses the storage the operator configured, as devbot dev does.
func TestDemoUsesConfiguredSupabase(t *testing.T) {
	t.Parallel()
	fake := storagetest.NewServer(t)
	out := playDemo(t, map[string]string{"DATABASE_URL": dbtest.URL(t), "DATABASE_EXEC_MODE": dbtest.ExecMode(),
		"SUPABASE_URL": fake.BaseURL, "SUPABASE_KEY": storagetest.Key})
	if !strings.Contains(out, "storage: Supabase at "+fake.BaseURL) {
		t.Errorf("the demo's stack does not say it uses Supabase:\n%s", out)
	}
	uploads := 0
	for _, r := range fake.Requests() {
		if r.Method == "POST" || r.Method == "PUT" {
			uploads++
		}
	}
	if uploads == 0 {
		t.Errorf("the demo stored nothing in the configured Supabase Storage; requests: %+v", fake.Requests())
	}
}

func playDemo(t *testing.T, envm map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"demo", "--fresh", "--data", t.TempDir()}, env{
		lookup: func(k string) (string, bool) { v, ok := envm[k]; return v, ok }, stdout: &out, stderr: &errb})
	if code != 0 || !strings.Contains(out.String(), "all 18 steps passed") {
		t.Fatalf("demo exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	return out.String()
}
