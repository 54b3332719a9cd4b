package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

const helloMain = `package main

import (
	"io"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte("hello"))
	})
	http.ListenAndServe(":"+os.Getenv("PORT"), nil)
}
`

// moduleDir is the devbot module's root, from the working directory.
func moduleDir(o Options) (string, error) {
	if o.ModuleDir != "" {
		return o.ModuleDir, nil
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run devbot bench start inside the devbot module (it builds the binary with go build)")
	}
	return filepath.Dir(mod), nil
}

func goBuild(dir, out, pkg string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port, nil
}

// rssMB reads a process's resident set size.
func rssMB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			kb, err := strconv.ParseFloat(f[0], 64)
			return kb / 1024, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status (Linux only)")
}

type startResult struct {
	startMS      float64
	rssStart     float64
	rssAfterLoad float64
}

// coldStart starts bin with env, times until its first HTTP answer, then
// sends requests signed POSTs and reads its RSS.
func coldStart(ctx context.Context, bin string, env []string, requests int, secret string) (startResult, error) {
	port, err := freePort()
	if err != nil {
		return startResult{}, err
	}
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = append(env, "PORT="+port)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	url := "http://127.0.0.1:" + port + "/"
	hc := httpClient(32)
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return startResult{}, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var res startResult
	for {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			res.startMS = float64(time.Since(t0).Microseconds()) / 1e3
			break
		}
		if time.Since(t0) > 30*time.Second {
			return res, fmt.Errorf("%s did not answer within 30s: %v\n%s", bin, err, stderr.String())
		}
		time.Sleep(200 * time.Microsecond)
	}
	if res.rssStart, err = rssMB(cmd.Process.Pid); err != nil {
		return res, err
	}
	base := time.Now().UnixNano() / 1000 % 1e12
	hdr := http.Header{"Content-Type": {"application/json"}, "X-Telegram-Bot-Api-Secret-Token": {secret}}
	if _, err := load(ctx, hc, url, hdr, requests, 32, func(i int) []byte {
		return []byte(`{"update_id":` + strconv.FormatInt(base+int64(i), 10) + `}`)
	}); err != nil {
		return res, fmt.Errorf("%v\n%s", err, stderr.String())
	}
	res.rssAfterLoad, err = rssMB(cmd.Process.Pid)
	return res, err
}

// Start measures the cold start of `devbot serve` (FUNCTION_TARGET=
// TelegramWebhook, a minimal environment, publishing to a local pstest) to
// its first HTTP answer, and its RSS after start and after 1,000 signed
// webhook requests, beside a hello-world net/http binary built the same way.
func Start(ctx context.Context, o Options) (Report, error) {
	requests := o.N
	if requests <= 0 {
		requests = 1000
		if o.Short {
			requests = 50
		}
	}
	rounds := o.repeat()
	if !o.Short && o.Repeat <= 3 {
		rounds = max(rounds, 5) // a start is short: a few more rounds cost little
	}
	r := Report{Part: "start", Setup: fmt.Sprintf("devbot serve (TelegramWebhook) as a child process, time to first HTTP answer, "+
		"RSS after %d signed requests at concurrency 32, %d rounds", requests, rounds)}
	dir, err := moduleDir(o)
	if err != nil {
		return r, err
	}
	tmp, err := os.MkdirTemp("", "devbot-bench-start-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(tmp)
	o.logf("start: building devbot and a hello-world binary in %s", tmp)
	devbot := filepath.Join(tmp, "devbot")
	if err := goBuild(dir, devbot, "./functions/cmd/devbot"); err != nil {
		return r, err
	}
	hello := filepath.Join(tmp, "hello", "hello")
	if err := os.MkdirAll(filepath.Dir(hello), 0o755); err != nil {
		return r, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "hello", "go.mod"), []byte("module hello\n\ngo 1.22\n"), 0o644); err != nil {
		return r, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "hello", "main.go"), []byte(helloMain), 0o644); err != nil {
		return r, err
	}
	if err := goBuild(filepath.Dir(hello), hello, "."); err != nil {
		return r, err
	}

	ps := pstest.NewServer()
	defer ps.Close()
	const project, topic = "devbot-bench", "bench-telegram-updates"
	client, err := pubsub.NewClient(ctx, project, option.WithEndpoint(ps.Addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		return r, err
	}
	defer client.Close()
	if _, err := client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: "projects/" + project + "/topics/" + topic}); err != nil {
		return r, err
	}
	const secret = "bench-webhook-secret"
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "FUNCTION_TARGET=TelegramWebhook",
		"TELEGRAM_WEBHOOK_SECRET=" + secret, "GOOGLE_CLOUD_PROJECT=" + project, "PUBSUB_EMULATOR_HOST=" + ps.Addr,
		"TOPIC_TELEGRAM_UPDATES=" + topic, "LOG_LEVEL=error"}
	var dv, hv []startResult
	for range rounds {
		d, err := coldStart(ctx, devbot, env, requests, secret)
		if err != nil {
			return r, fmt.Errorf("devbot serve: %w", err)
		}
		h, err := coldStart(ctx, hello, env, requests, secret)
		if err != nil {
			return r, fmt.Errorf("hello world: %w", err)
		}
		o.logf("start: devbot %.1f ms %.1f MB, hello %.1f ms %.1f MB", d.startMS, d.rssAfterLoad, h.startMS, h.rssAfterLoad)
		dv, hv = append(dv, d), append(hv, h)
	}
	get := func(rs []startResult, f func(startResult) float64) []float64 {
		var out []float64
		for _, x := range rs {
			out = append(out, f(x))
		}
		return out
	}
	ms := func(x startResult) float64 { return x.startMS }
	rs0 := func(x startResult) float64 { return x.rssStart }
	rs1 := func(x startResult) float64 { return x.rssAfterLoad }
	main := newPair("cold start to first answer", "ms", get(dv, ms), "hello world", get(hv, ms), true)
	after := newPair(fmt.Sprintf("RSS after %d requests", requests), "MB", get(dv, rs1), "hello world", get(hv, rs1), true)
	r.Pairs = append(r.Pairs, main, newPair("RSS at first answer", "MB", get(dv, rs0), "hello world", get(hv, rs0), true), after)
	r.Notes = append(r.Notes, "devbot's requests publish to a local pstest and wait for it; hello world answers at once")
	r.Summary = summaryLine("start", fmt.Sprintf("cold start %s ms beside hello world's %s ms; RSS %s MB after %d requests beside %s MB",
		num(main.Figure.Median), num(main.Ceiling.Median), num(after.Figure.Median), requests, num(after.Ceiling.Median)), main.Ratio)
	return r, nil
}
