package devstack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/devbot-hq/devbot/internal/pgtemp"
)

// localDatabase starts the stack's own PostgreSQL when no DATABASE_URL is
// set. It is kept in <data>/postgres, so projects, credits and history
// survive a restart as the stored files do; FreshDatabase uses
// <data>/postgres-fresh instead, wiped at start and removed on exit. A
// server an earlier run left running (devbot dev killed with -9) is stopped
// first, by pgtemp.
func (s *Stack) localDatabase(ctx context.Context, opts Options) (url, note string, err error) {
	name := "postgres"
	if opts.FreshDatabase {
		name = "postgres-fresh"
	}
	dir, err := clusterDir(opts.DataDir, name)
	if err != nil {
		return "", "", err
	}
	var c *pgtemp.Cluster
	if opts.FreshDatabase {
		// Stop what a killed run may have left, then start from nothing.
		if _, err := os.Stat(filepath.Join(dir, "data", "PG_VERSION")); err == nil {
			if old, err := pgtemp.StartIn(ctx, dir); err == nil {
				old.Stop()
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			return "", "", fmt.Errorf("removing the throwaway cluster of an earlier run: %w", err)
		}
		c, err = pgtemp.StartIn(ctx, dir)
		if c != nil {
			c.Kept = false
		}
	} else {
		c, err = pgtemp.StartIn(ctx, dir)
	}
	if err != nil {
		return "", "", fmt.Errorf("no DATABASE_URL, and a local PostgreSQL cluster could not start in %s: %w\n"+
			"set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres) or install PostgreSQL (initdb, pg_ctl)", dir, err)
	}
	s.closers = append(s.closers, c.Stop)
	if c.Recovered != "" {
		s.say("database: %s", c.Recovered)
	}
	switch {
	case opts.FreshDatabase:
		note = fmt.Sprintf("database: throwaway cluster on port %d in %s (removed on exit)", c.Port, dir)
	case c.Reused:
		note = fmt.Sprintf("database: local cluster on port %d in %s (kept from the last run; --fresh for a throwaway one)", c.Port, dir)
	default:
		note = fmt.Sprintf("database: new local cluster on port %d in %s (kept across restarts; --fresh for a throwaway one)", c.Port, dir)
	}
	return c.URL, note, nil
}

// clusterDir is <data>/<name>. PostgreSQL refuses to run as root, so as
// root the server runs as the postgres user, which must be able to reach
// the directory: the data directory is made traversable (0711: no listing,
// and its secrets stay 0600), and if a parent directory is closed to others
// (as /root is) the cluster lives in /var/tmp instead, named after the data
// directory, so it is still the same cluster at the next start.
func clusterDir(dataDir, name string) (string, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(abs, name)
	if os.Geteuid() != 0 {
		return dir, nil
	}
	if err := os.Chmod(abs, 0o711); err != nil {
		return "", fmt.Errorf("data directory: %w", err)
	}
	if traversable(filepath.Dir(abs)) {
		return dir, nil
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join("/var/tmp", "devbot-"+name+"-"+hex.EncodeToString(sum[:6])), nil
}

// traversable says whether others may pass through dir and all its parents.
func traversable(dir string) bool {
	for {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

// checkStale refuses to start when another devbot dev runs from the same
// data directory (it would share the cluster), and removes the state file
// of one that is gone (killed with -9, or its terminal closed before it
// handled SIGHUP), so that devbot say does not talk to a dead address.
func (s *Stack) checkStale() error {
	path := filepath.Join(s.dataDir, StateFile)
	st, err := ReadState(s.dataDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err == nil && st.PID > 0 && st.PID != os.Getpid() && alive(st.PID) {
		return fmt.Errorf("devbot dev is already running from %s (pid %d, %s): stop it first, or use another --data", s.dataDir, st.PID, st.URL)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the stale %s: %w", path, err)
	}
	s.say("removed the state file of an earlier devbot dev that did not stop cleanly (pid %d)", st.PID)
	return nil
}

// alive says whether pid is a running devbot (a recycled pid of another
// program does not count).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return true
	}
	return strings.Contains(string(cmdline), "devbot")
}
