// Package emulator runs the Google Cloud Pub/Sub emulator (the Java one
// installed with google-cloud-cli-pubsub-emulator) as a child process: on a
// free port, in its own process group, killed with its parent. The tests use
// it through emulatortest; devbot dev --pubsub=emulator uses it directly.
//
// It runs the emulator's launcher script (which execs java in place) rather
// than `gcloud beta emulators pubsub start`: gcloud is a Python wrapper that
// forks Java as a child, and a child survives its parent. Started directly,
// the Java process is the one this package starts, so
//   - Pdeathsig kills it when the parent dies for any reason (a panic,
//     a -timeout, a kill), even when no cleanup runs;
//   - Setpgid puts it in its own group, and cleanup kills the whole group
//     and waits for it.
//
// gcloud is still how the launcher is found (the SDK root is the directory
// above gcloud's bin). A missing emulator fails the test, never skips it:
// CI must not pass without running the integration tests.
package emulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// StartupTimeout bounds the emulator's start (Java; a few seconds on our
// machines, much more on a loaded CI runner).
const StartupTimeout = 60 * time.Second

// Emulator is a running emulator.
type Emulator struct {
	// Host is host:port, the value of PUBSUB_EMULATOR_HOST.
	Host string
	stop func() error
}

// Stop kills the emulator's whole process group and waits for it.
func (e *Emulator) Stop() error {
	if e == nil || e.stop == nil {
		return nil
	}
	return e.stop()
}

// Launcher finds the emulator's launcher script through gcloud.
func Launcher() (string, error) {
	gcloud, err := exec.LookPath("gcloud")
	if err != nil {
		return "", fmt.Errorf("gcloud is not installed (%w); install google-cloud-cli and google-cloud-cli-pubsub-emulator", err)
	}
	real, err := filepath.EvalSymlinks(gcloud)
	if err != nil {
		return "", err
	}
	launcher := filepath.Join(filepath.Dir(filepath.Dir(real)), "platform", "pubsub-emulator", "bin", "cloud-pubsub-emulator")
	if _, err := os.Stat(launcher); err != nil {
		return "", fmt.Errorf("the Pub/Sub emulator is not installed (%w); install google-cloud-cli-pubsub-emulator", err)
	}
	return launcher, nil
}

// Start starts an emulator; Stop stops it. The emulator also dies with this
// process, even when Stop never runs.
func Start() (*Emulator, error) {
	launcher, err := Launcher()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 3 { // the free port can be taken between choosing and binding
		e, err := start(launcher)
		if err == nil {
			return e, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func start(launcher string) (*Emulator, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	host := "127.0.0.1:" + strconv.Itoa(port)
	out := &logBuffer{}
	cmd := exec.Command(launcher, "--host=127.0.0.1", "--port="+strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), "JAVA_OPTS=-XX:+UseSerialGC -XX:TieredStopAtLevel=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	// Pdeathsig fires when the thread that started the child exits, not the
	// process: start it from a locked thread that lives until cleanup.
	started := make(chan error)
	stop := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with this goroutine
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		go func() { cmd.Wait(); close(exited) }()
		<-stop
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", launcher, err)
	}
	var once sync.Once
	kill := func() error {
		var err error
		once.Do(func() {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the group: java and anything it forked
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				err = fmt.Errorf("emulator process %d did not exit after SIGKILL", cmd.Process.Pid)
			}
			close(stop)
		})
		return err
	}
	if err := waitReady(host, exited); err != nil {
		kill()
		return nil, fmt.Errorf("%w; emulator output:\n%s", err, out)
	}
	return &Emulator{Host: host, stop: kill}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls the emulator's HTTP root, which answers "Ok" once the
// server is up.
func waitReady(host string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), StartupTimeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/", nil)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("the emulator exited before it was ready")
		case <-ctx.Done():
			return fmt.Errorf("the emulator was not ready after %s", StartupTimeout)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
