package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/llm/llmtest"
	"github.com/devbot-hq/devbot/internal/refine"
	"github.com/devbot-hq/devbot/internal/storage"
	"github.com/devbot-hq/devbot/internal/telegram/telegramtest"
)

// childEnv marks the test binary re-run as a devbot instance: the crash
// tests start real processes (devbot serve, RefineJobs) and kill them.
const childEnv = "DEVBOT_TEST_CHILD_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(childEnv); args != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		code := run(ctx, strings.Fields(args), env{lookup: os.LookupEnv, stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin})
		stop()
		os.Exit(code)
	}
	code := m.Run()
	removeBuiltBin()
	os.Exit(code)
}

// crashRig is one job, the fakes it needs (Telegram; a model endpoint whose
// first call never answers) and the environment of a RefineJobs instance.
type crashRig struct {
	t       *testing.T
	db      *db.DB
	tg      *telegramtest.Server
	job     db.Job
	env     []string
	called  chan struct{} // closed when the model is first called
	release chan struct{}
	userID  int64
}

func newCrashRig(t *testing.T, lease time.Duration) *crashRig {
	ctx := context.Background()
	dbURL := dbtest.URL(t)
	pool, err := db.Open(ctx, dbURL, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	dir := t.TempDir()
	local, err := storage.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := storage.NewFiles(local, 1<<20)
	u, _, err := db.EnsureUser(ctx, pool.Pool, db.TelegramUser{TelegramID: 9, ChatID: 555, FirstName: "Ann"}, 20)
	if err != nil {
		t.Fatal(err)
	}
	p, err := db.CreateProject(ctx, pool.Pool, u.ID, "api")
	if err != nil {
		t.Fatal(err)
	}
	if err := files.EnsureBucket(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	content := "package a\n"
	key, sum, err := files.PutBlob(ctx, p.ID, []byte(content), "text/plain; charset=utf-8")
	if err != nil {
		t.Fatal(err)
	}
	err = pool.InTx(ctx, func(tx pgx.Tx) error {
		_, err := db.CommitVersion(ctx, tx, db.NewVersion{ProjectID: p.ID, Path: "a.go", SHA256: sum, Size: int64(len(content)),
			BlobKey: key, Source: db.SourceUpload})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	j, err := db.CreateJob(ctx, pool.Pool, db.NewJob{UserID: u.ID, ProjectID: p.ID, Path: "a.go", Instruction: "rename the package to b",
		Mode: db.ModeLLM, ChatID: 555, HoldCredits: 10})
	if err != nil {
		t.Fatal(err)
	}

	r := &crashRig{t: t, db: pool, tg: telegramtest.New(t), job: j, userID: u.ID,
		called: make(chan struct{}), release: make(chan struct{})}
	model := llmtest.New(t, llmtest.Response{Text: "a.go\n```go\n<<<<<<< SEARCH\npackage a\n=======\npackage b\n>>>>>>> REPLACE\n```\n"})
	target, _ := url.Parse(model.URL)
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	var once sync.Once
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		first := false
		once.Do(func() { first = true })
		if first { // the call the instance is killed in
			close(r.called)
			select {
			case <-r.release:
			case <-req.Context().Done():
			}
			return
		}
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(gate.Close)
	t.Cleanup(func() { close(r.release) }) // before gate.Close, which waits for the blocked call
	r.env = []string{
		"ENVIRONMENT=development", "LOG_FORMAT=json", "FUNCTION_TARGET=RefineJobs",
		"DATABASE_URL=" + dbURL, "DATABASE_EXEC_MODE=" + dbtest.ExecMode(), "STORAGE_BACKEND=local", "STORAGE_DIR=" + dir,
		"TELEGRAM_BOT_TOKEN=" + r.tg.Token, "TELEGRAM_API_URL=" + r.tg.URL,
		"API_KEY_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)),
		"LLM_BASE_URL=" + gate.URL + "/v1", "LLM_API_KEY=sk-test", "LLM_MODEL=test-model",
		"REFINE_LEASE=" + lease.String(), "HANDLER_TIMEOUT=60s", "PATH=" + os.Getenv("PATH"),
	}
	return r
}

// instance is a running devbot serve process.
type instance struct {
	cmd    *exec.Cmd
	url    string
	stderr *lockedWriter
	exited chan error
}

func (r *crashRig) start(name string) *instance {
	r.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append([]string{}, r.env...), childEnv+"=serve", fmt.Sprintf("PORT=%d", port))
	in := &instance{cmd: cmd, url: fmt.Sprintf("http://127.0.0.1:%d", port), stderr: &lockedWriter{}, exited: make(chan error, 1)}
	cmd.Stderr = in.stderr
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func() { in.exited <- cmd.Wait() }()
	r.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if r.t.Failed() {
			r.t.Logf("%s's log:\n%s", name, in.stderr.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return in
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s did not start listening:\n%s", name, in.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lockedWriter is a child's stderr, read while the child writes it.
type lockedWriter struct {
	mu sync.Mutex
	w  bytes.Buffer
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// push delivers the job's message as a Pub/Sub push request would.
func (r *crashRig) push(in *instance, attempt int) (int, error) {
	out := refine.Outgoing(r.job)
	body, _ := json.Marshal(map[string]any{
		"message": map[string]any{"data": base64.StdEncoding.EncodeToString(out.Data), "messageId": "m-1",
			"attributes": out.Attributes, "orderingKey": out.OrderingKey},
		"subscription": "projects/p/subscriptions/refine-jobs-push", "deliveryAttempt": attempt,
	})
	resp, err := http.Post(in.url, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// outcome checks the job finished once: succeeded, charged once, replied
// once, after attempts claims.
func (r *crashRig) outcome(attempts int) {
	r.t.Helper()
	ctx := context.Background()
	j, err := db.GetJob(ctx, r.db.Pool, r.job.ID)
	if err != nil {
		r.t.Fatal(err)
	}
	var charges int
	var charged int64
	if err := r.db.Pool.QueryRow(ctx, `SELECT count(*), coalesce(-sum(amount), 0) FROM credit_ledger WHERE job_id = $1 AND kind = 'refine'`,
		r.job.ID).Scan(&charges, &charged); err != nil {
		r.t.Fatal(err)
	}
	u, _ := db.UserByID(ctx, r.db.Pool, r.userID)
	sent := r.tg.Sent(555)
	if j.State != db.JobSucceeded || j.Attempts != attempts || charges != 1 || u.Held != 0 || j.ReplySentAt == nil || len(sent) != 1 {
		r.t.Errorf("job %s after %d attempts, %d charges (%d credits), %d held, replied %v, %d messages; "+
			"want succeeded after %d, 1 charge, 0 held, replied, 1 message", j.State, j.Attempts, charges, charged, u.Held,
			j.ReplySentAt != nil, len(sent), attempts)
	}
	if len(sent) == 1 && !strings.Contains(sent[0].Text(), "version 2") {
		r.t.Errorf("reply %q", sent[0].Text())
	}
}

// kill -9 during a model call: the redelivery, to a second instance, waits
// out the dead one's short lease and finishes the job, once.
func TestKilledDuringAModelCallIsResumed(t *testing.T) {
	t.Parallel()
	const lease = 3 * time.Second
	r := newCrashRig(t, lease)
	a := r.start("instance A")
	go r.push(a, 1) // its connection dies with the instance
	select {
	case <-r.called:
	case <-time.After(60 * time.Second):
		t.Fatalf("the model was never called:\n%s", a.stderr.String())
	}
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.exited
	b := r.start("instance B")
	start := time.Now()
	code, err := r.push(b, 2)
	if err != nil || code/100 != 2 {
		t.Fatalf("redelivery to instance B: %d %v\n%s", code, err, b.stderr.String())
	}
	t.Logf("instance B resumed the job in %s (lease %s)", time.Since(start).Round(100*time.Millisecond), lease)
	r.outcome(2)
}

// SIGTERM during a model call: the instance releases the lease and answers
// at once (a nack), and exits within Cloud Run's 10 s; the redelivery
// claims the job without waiting for the lease and finishes it, once.
func TestSIGTERMDuringAModelCallReleasesTheLease(t *testing.T) {
	t.Parallel()
	const lease = 2 * time.Minute // longer than the test: only a release lets B in
	r := newCrashRig(t, lease)
	a := r.start("instance A")
	first := make(chan int, 1)
	go func() { code, _ := r.push(a, 1); first <- code }()
	select {
	case <-r.called:
	case <-time.After(60 * time.Second):
		t.Fatalf("the model was never called:\n%s", a.stderr.String())
	}
	termAt := time.Now()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-first:
		if code/100 == 2 {
			t.Errorf("the interrupted delivery was acknowledged (%d): nothing would redeliver it", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the interrupted delivery was not answered within 10 s")
	}
	select {
	case err := <-a.exited:
		t.Logf("instance A exited %v, %s after SIGTERM", err, time.Since(termAt).Round(100*time.Millisecond))
		if err != nil {
			t.Errorf("instance A: %v\n%s", err, a.stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("instance A still runs 10 s after SIGTERM (Cloud Run would kill it)")
	}
	var claimed *time.Time
	if err := r.db.Pool.QueryRow(context.Background(), `SELECT claimed_at FROM refine_jobs WHERE id = $1`, r.job.ID).Scan(&claimed); err != nil {
		t.Fatal(err)
	}
	if claimed != nil {
		t.Errorf("the lease is still held (claimed_at %s) after SIGTERM", claimed)
	}
	b := r.start("instance B")
	start := time.Now()
	code, err := r.push(b, 2)
	if err != nil || code/100 != 2 {
		t.Fatalf("redelivery to instance B: %d %v\n%s", code, err, b.stderr.String())
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("instance B took %s: it waited for the lease", d)
	}
	r.outcome(2)
}
