package pgtemp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Bouncer is a running PgBouncer in transaction mode, standing in for
// Supabase's transaction pooler (Supavisor on port 6543): each transaction
// may run on a different server connection, so session state (advisory
// locks, prepared statements, SET) does not survive from one to the next.
type Bouncer struct {
	Dir  string // config and log; removed by Stop
	Port int
	// URL connects through the pooler as "postgres" to the database
	// "postgres"; any other database name is forwarded to the same server.
	URL string

	cmd  *exec.Cmd
	done chan error
}

// ErrNoBouncer means pgbouncer is not installed.
var ErrNoBouncer = errors.New("pgtemp: pgbouncer is not installed (Debian: apt-get install -y pgbouncer)")

// BouncerOptions configure StartBouncer.
type BouncerOptions struct {
	// Upstream is the server, host:port; default 127.0.0.1:5432.
	Upstream string
	// PoolSize is the number of server connections per database and user;
	// default 2, small on purpose so that clients share backends.
	PoolSize int
	// ReservePool extra connections are opened for a client that waited
	// half a second for one (0: none). With PoolSize 1 every client shares
	// one backend, which shows any reliance on session state at once, and
	// one reserve connection lets code that holds a transaction while it
	// queries on a second connection go on.
	ReservePool int
}

// StartBouncer starts pgbouncer in transaction mode in front of a server
// that trusts local connections, on a free loopback port. Every database
// name is forwarded (a wildcard entry), so per-test databases work. Call
// Stop when done.
func StartBouncer(ctx context.Context, opts BouncerOptions) (*Bouncer, error) {
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		return nil, ErrNoBouncer
	}
	if opts.Upstream == "" {
		opts.Upstream = "127.0.0.1:5432"
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = 2
	}
	host, port, err := net.SplitHostPort(opts.Upstream)
	if err != nil {
		return nil, fmt.Errorf("pgtemp: upstream %q: %w", opts.Upstream, err)
	}
	dir, err := os.MkdirTemp("", "devbot-pgbouncer-")
	if err != nil {
		return nil, fmt.Errorf("pgtemp: %w", err)
	}
	b := &Bouncer{Dir: dir, done: make(chan error, 1)}
	var cred *syscall.Credential
	// pgbouncer refuses to run as root.
	if os.Geteuid() == 0 {
		if cred, err = postgresUser(); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgtemp: %w", err)
		}
	}
	if b.Port, err = freePort(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	users := filepath.Join(dir, "userlist.txt")
	ini := filepath.Join(dir, "pgbouncer.ini")
	conf := BouncerConfig(host, port, b.Port, opts.PoolSize, users, filepath.Join(dir, "pgbouncer.log"))
	if opts.ReservePool > 0 {
		conf += fmt.Sprintf("reserve_pool_size = %d\nreserve_pool_timeout = 0.5\n", opts.ReservePool)
	}
	for path, body := range map[string]string{users: `"postgres" ""` + "\n", ini: conf} {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgtemp: %w", err)
		}
	}
	b.cmd = exec.Command(bin, ini)
	var out bytes.Buffer
	b.cmd.Stdout, b.cmd.Stderr = &out, &out
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	if err := b.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtemp: starting pgbouncer: %w", err)
	}
	go func() { b.done <- b.cmd.Wait() }()
	b.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", b.Port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(b.Port)), time.Second)
		if err == nil {
			c.Close()
			return b, nil
		}
		select {
		case werr := <-b.done:
			log, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgtemp: pgbouncer exited: %v\n%s%s", werr, out.Bytes(), log)
		case <-ctx.Done():
			b.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.Stop()
			return nil, fmt.Errorf("pgtemp: pgbouncer did not listen on port %d within 15s", b.Port)
		}
	}
}

// BouncerConfig is the pgbouncer.ini that StartBouncer writes (and .ci/run
// mirrors): transaction pooling, trust authentication through a userlist,
// a wildcard database, no prepared-statement support (as Supavisor in
// transaction mode, and pgbouncer before 1.21).
func BouncerConfig(upstreamHost, upstreamPort string, listenPort, poolSize int, userlist, logfile string) string {
	return fmt.Sprintf(`[databases]
* = host=%s port=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = transaction
max_client_conn = 2000
default_pool_size = %d
ignore_startup_parameters = extra_float_digits,options
logfile = %s
`, upstreamHost, upstreamPort, listenPort, userlist, poolSize, logfile)
}

// Stop stops pgbouncer and removes its directory.
func (b *Bouncer) Stop() error {
	if b.cmd != nil && b.cmd.Process != nil {
		_ = b.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-b.done:
		case <-time.After(5 * time.Second):
			_ = b.cmd.Process.Kill()
			<-b.done
		}
	}
	return os.RemoveAll(b.Dir)
}
