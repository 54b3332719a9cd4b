// Package pgtemp starts a local PostgreSQL cluster with the machine's own
// initdb and pg_ctl: a free port on 127.0.0.1, trust authentication. Start
// makes a throwaway one in a temporary directory, removed again by Stop;
// StartIn keeps one in a directory of the caller's across runs (devbot dev
// keeps its database in its data directory), and first stops a server that
// an earlier run left behind (killed with -9, its terminal closed). devbot
// dev uses them when no DATABASE_URL is configured, so the whole pipeline
// runs on a fresh machine. StartBouncer puts PgBouncer in transaction mode
// in front of a server, as Supabase's pooler.
//
// PostgreSQL refuses to run as root. When devbot runs as root (CI, our
// machines), the cluster's directory is handed to the "postgres" system user
// and initdb, pg_ctl and the server run as that user.
package pgtemp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Cluster is a running server.
type Cluster struct {
	Dir  string // removed by Stop unless Kept
	Port int
	// URL connects as the superuser "postgres" to the database "postgres".
	URL string
	// Kept clusters (StartIn) keep Dir, and their data, after Stop.
	Kept bool
	// Reused is true when StartIn found an existing cluster in Dir.
	Reused bool
	// Recovered describes a server of an earlier run that StartIn stopped
	// before starting ("" if there was none).
	Recovered string

	bin  string
	cred *syscall.Credential
}

// ErrUnavailable means this machine cannot start a cluster (no initdb).
var ErrUnavailable = errors.New("pgtemp: PostgreSQL's initdb and pg_ctl were not found")

// FindBin returns the directory holding initdb and pg_ctl: PATH first, then
// Debian's /usr/lib/postgresql/<version>/bin, newest version first.
func FindBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "pg_ctl")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", ErrUnavailable
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Start initializes and starts a throwaway cluster in a new temporary
// directory. Call Stop when done, also on error paths of the caller.
func Start(ctx context.Context) (*Cluster, error) {
	dir, err := os.MkdirTemp("", "devbot-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgtemp: %w", err)
	}
	c, err := start(ctx, dir, false)
	if err != nil {
		os.RemoveAll(dir)
	}
	return c, err
}

// StartIn starts the cluster kept in dir, initializing it on first use, on a
// free port. Stop stops it and keeps the data for the next StartIn. A server
// still running from dir (its postmaster.pid names a live postgres: an
// earlier run was killed and left it behind) is stopped first, and a stale
// postmaster.pid removed. The caller makes sure that no live process of its
// own still uses dir.
func StartIn(ctx context.Context, dir string) (*Cluster, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pgtemp: %w", err)
	}
	return start(ctx, dir, true)
}

func start(ctx context.Context, dir string, keep bool) (*Cluster, error) {
	bin, err := FindBin()
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, bin: bin, Kept: keep}
	if os.Geteuid() == 0 {
		cred, err := postgresUser()
		if err != nil {
			return nil, err
		}
		c.cred = cred
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("pgtemp: %w", err)
		}
	}
	data := filepath.Join(dir, "data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err == nil {
		c.Reused = true
		if c.Recovered, err = c.recoverStale(ctx); err != nil {
			return nil, err
		}
	} else {
		// A half-made directory (initdb interrupted) is of no use.
		os.RemoveAll(data)
		if out, err := c.run(ctx, "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
			"--no-sync", "--locale=C"); err != nil {
			return nil, fmt.Errorf("pgtemp: initdb: %w\n%s", err, out)
		}
	}
	// A kept cluster must survive a crash of the machine: fsync stays on.
	durability := ""
	if !keep {
		durability = " -c fsync=off -c full_page_writes=off"
	}
	for attempt := 0; ; attempt++ {
		c.Port, err = freePort()
		if err != nil {
			return nil, err
		}
		// TCP only: a socket path under a deep directory can exceed the
		// 107 bytes a Unix socket's name may have.
		opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories=''%s", c.Port, durability)
		out, err := c.run(ctx, "pg_ctl", "-D", data, "-l", filepath.Join(dir, "server.log"), "-o", opts, "-w", "-t", "60", "start")
		if err == nil {
			break
		}
		if attempt == 2 {
			log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			return nil, fmt.Errorf("pgtemp: pg_ctl start: %w\n%s\n%s", err, out, tail(log, 2000))
		}
	}
	c.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.Port)
	return c, nil
}

// recoverStale deals with the postmaster.pid of an earlier run: a live
// postgres (its owner was killed and it ran on, in a process group of its
// own) is stopped; a dead one's file is removed, since a recycled pid would
// make the server refuse to start.
func (c *Cluster) recoverStale(ctx context.Context) (string, error) {
	data := filepath.Join(c.Dir, "data")
	pidFile := filepath.Join(data, "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return "", nil
	}
	first, _, _ := bytes.Cut(b, []byte("\n"))
	pid, err := strconv.Atoi(string(bytes.TrimSpace(first)))
	if err != nil || pid <= 0 {
		return "", os.Remove(pidFile)
	}
	if !isPostgres(pid) {
		if err := os.Remove(pidFile); err != nil {
			return "", fmt.Errorf("pgtemp: removing the stale %s: %w", pidFile, err)
		}
		return fmt.Sprintf("removed the stale postmaster.pid of a server that is gone (pid %d)", pid), nil
	}
	if out, err := c.run(ctx, "pg_ctl", "-D", data, "-m", "fast", "-w", "-t", "30", "stop"); err != nil {
		return "", fmt.Errorf("pgtemp: stopping the server an earlier run left running (pid %d): %w\n%s", pid, err, out)
	}
	return fmt.Sprintf("stopped the PostgreSQL server an earlier run left running (pid %d)", pid), nil
}

// isPostgres says whether pid is a live postgres process.
func isPostgres(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		// No /proc (not Linux): trust the signal.
		return true
	}
	// "pid (comm) state ...": a zombie has exited already.
	comm, rest, _ := strings.Cut(string(stat), ") ")
	return strings.Contains(comm, "(postgres") && !strings.HasPrefix(rest, "Z")
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// Stop stops the server (fast shutdown: open sessions are disconnected) and
// removes its directory unless it is kept.
func (c *Cluster) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := c.run(ctx, "pg_ctl", "-D", filepath.Join(c.Dir, "data"), "-m", "fast", "-w", "stop")
	var rmErr error
	if !c.Kept {
		rmErr = os.RemoveAll(c.Dir)
	}
	if err != nil {
		return fmt.Errorf("pgtemp: pg_ctl stop: %w\n%s", err, out)
	}
	return rmErr
}

func (c *Cluster) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	cmd.Dir = c.Dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group: a Ctrl-C meant for devbot must not kill the
	// server before devbot stops it cleanly.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.cred}
	if c.cred != nil {
		cmd.Env = append(os.Environ(), "HOME="+c.Dir)
	}
	err := cmd.Run()
	return out.Bytes(), err
}

func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtemp: running as root needs the postgres system user to run the server: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtemp: no free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
