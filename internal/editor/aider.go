package editor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/devbot-hq/devbot/internal/editblock"
	"github.com/devbot-hq/devbot/internal/fault"
)

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

// aider runs the aider CLI on a copy of the file in a temporary directory:
// non-interactive, no git, bounded by a timeout, output captured (never
// logged: it shows the file).
func (e *Editor) aider(ctx context.Context, req Request) (Outcome, error) {
	out := Outcome{Mode: ModeAider, Model: e.cfg.Aider.Model, Attempts: 1}
	dir, err := os.MkdirTemp("", "devbot-aider-")
	if err != nil {
		return out, fmt.Errorf("aider: %w", err)
	}
	defer os.RemoveAll(dir)
	name := filepath.Base(filepath.Clean("/" + req.Path))
	if name == "/" || name == "." {
		name = "file"
	}
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, req.Content, 0o600); err != nil {
		return out, fmt.Errorf("aider: %w", err)
	}
	key := req.APIKey
	if key == "" {
		key = e.cfg.Aider.APIKey
	}
	model := e.cfg.Aider.Model
	if !strings.HasPrefix(model, "openai/") {
		model = "openai/" + model
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Aider.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.cfg.Aider.Path,
		"--yes-always", "--no-git", "--no-auto-commits", "--no-dirty-commits", "--no-pretty", "--no-stream",
		"--no-fancy-input", "--no-check-update", "--no-analytics", "--no-show-model-warnings",
		"--edit-format", "diff", "--map-tokens", "0", "--model", model,
		"--message", req.Instruction, name)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "OPENAI_API_KEY=" + key,
		"OPENAI_API_BASE=" + e.cfg.Aider.BaseURL, "AIDER_ANALYTICS=false", "TERM=dumb"}
	cmd.Stdin = nil
	output := &tailBuffer{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = output, output
	// aider starts children; on timeout the whole process group goes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	start := time.Now()
	err = cmd.Run()
	out.PromptTokens, out.CompletionTokens, out.CostUSD = aiderUsage(output.buf)
	e.log.InfoContext(ctx, "aider ran", slog.Duration("took", time.Since(start)), slog.Bool("ok", err == nil))
	switch {
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return out, fault.Permanentf("aider did not finish within %s", e.cfg.Aider.Timeout)
	case errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist):
		return out, fault.Permanentf("%w: the aider executable %q was not found", fault.ErrInvalid, e.cfg.Aider.Path)
	case err != nil:
		// Its output is not quoted: it may show the user's file.
		return out, fault.AsRetryable(fmt.Errorf("%w: aider failed: %v", fault.ErrUnavailable, err))
	}
	content, err := os.ReadFile(file)
	if err != nil {
		return out, fmt.Errorf("aider: reading the result: %w", err)
	}
	if bytes.Equal(content, req.Content) {
		return out, failed(1, errors.New("aider made no change to the file"))
	}
	out.Result = editblock.Result{Content: content, Diff: editblock.Diff(req.Path, req.Content, content)}
	return out, nil
}

var (
	aiderTokens = regexp.MustCompile(`Tokens: ([\d.]+)(k?) sent, ([\d.]+)(k?) received`)
	aiderCost   = regexp.MustCompile(`Cost: \$([\d.]+) message`)
)

// aiderUsage reads aider's "Tokens: 1.2k sent, 300 received. Cost: $0.01
// message, ..." lines, summing them.
func aiderUsage(out []byte) (prompt, completion int, cost float64) {
	num := func(s, k string) int {
		f, _ := strconv.ParseFloat(s, 64)
		if k == "k" {
			f *= 1000
		}
		return int(f)
	}
	for _, m := range aiderTokens.FindAllSubmatch(out, -1) {
		prompt += num(string(m[1]), string(m[2]))
		completion += num(string(m[3]), string(m[4]))
	}
	for _, m := range aiderCost.FindAllSubmatch(out, -1) {
		f, _ := strconv.ParseFloat(string(m[1]), 64)
		cost += f
	}
	return prompt, completion, cost
}
