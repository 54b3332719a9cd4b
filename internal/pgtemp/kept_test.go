package pgtemp_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/pgtemp"
)

// keptDir is a directory the postgres user can reach when the tests run as
// root (t.TempDir's parent is 0700).
func keptDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	if err := os.Chmod(filepath.Dir(d), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(d, "pg")
}

func exec1(t *testing.T, ctx context.Context, url, sql string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func postmasterPID(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(first)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// A kept cluster keeps its data across Stop and StartIn; a server an
// earlier run left running (its owner killed with -9) is stopped by the
// next StartIn, and a postmaster.pid naming a dead process is no obstacle.
func TestStartInKeepsDataAndRecoversWhatWasLeft(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := keptDir(t)

	first, err := pgtemp.StartIn(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if first.Reused {
		t.Error("a new cluster says it was reused")
	}
	exec1(t, ctx, first.URL, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)")
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}

	// The second run is "killed": never stopped, its server runs on.
	second, err := pgtemp.StartIn(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !second.Reused {
		t.Error("the second StartIn did not reuse the cluster")
	}
	orphan := postmasterPID(t, dir)

	third, err := pgtemp.StartIn(ctx, dir)
	if err != nil {
		t.Fatalf("StartIn with a server left running: %v", err)
	}
	defer third.Stop()
	if !strings.Contains(third.Recovered, fmt.Sprintf("pid %d", orphan)) {
		t.Errorf("Recovered = %q, want it to name the stopped server (pid %d)", third.Recovered, orphan)
	}
	for deadline := time.Now().Add(5 * time.Second); running(orphan) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if running(orphan) {
		t.Errorf("the server left running (pid %d) still runs", orphan)
	}
	conn, err := pgx.Connect(ctx, third.URL)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != 42 {
		t.Errorf("the data did not survive: %d, %v", v, err)
	}
	conn.Close(ctx)
	if err := third.Stop(); err != nil {
		t.Fatal(err)
	}

	// A postmaster.pid whose process is gone (the machine rebooted, or the
	// server was killed too) and whose pid now belongs to another program.
	sleeper := exec.Command("sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Signal(syscall.SIGKILL); sleeper.Wait() }()
	stale := fmt.Sprintf("%d\n%s/data\n", sleeper.Process.Pid, dir)
	if err := os.WriteFile(filepath.Join(dir, "data", "postmaster.pid"), []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	fourth, err := pgtemp.StartIn(ctx, dir)
	if err != nil {
		t.Fatalf("StartIn with a stale postmaster.pid: %v", err)
	}
	if err := fourth.Stop(); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "PG_VERSION")); err != nil {
		t.Errorf("Stop removed a kept cluster: %v", err)
	}
}
