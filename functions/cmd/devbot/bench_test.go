package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestBenchPartsShort runs each part end to end at tiny sizes and checks
// the last line of its output.
func TestBenchPartsShort(t *testing.T) {
	envm := map[string]string{}
	for _, k := range []string{"DATABASE_URL", "PATH", "HOME", "GOPATH", "GOCACHE", "GOMODCACHE", "GOFLAGS", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			envm[k] = v
		}
	}
	for _, part := range []string{"edit", "ingress", "start", "pipeline"} {
		if benchParts[part] == nil {
			continue
		}
		t.Run(part, func(t *testing.T) {
			code, stdout, stderr := runWith(t, envm, "bench", part, "--short", "--repeat", "1")
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
			last := lines[len(lines)-1]
			if !regexp.MustCompile(`^` + part + `: .+ ratio \d+\.\d%$`).MatchString(last) {
				t.Errorf("last line %q\nstdout:\n%s", last, stdout)
			}
		})
	}
}

func TestBenchJSONAndUsage(t *testing.T) {
	code, stdout, stderr := runWith(t, nil, "bench", "edit", "--short", "--repeat", "1", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var reports []struct {
		Part    string `json:"part"`
		Summary string `json:"summary"`
	}
	if err := json.Unmarshal([]byte(stdout), &reports); err != nil || len(reports) != 1 || reports[0].Part != "edit" {
		t.Fatalf("json %v: %s", err, stdout)
	}
	if code, _, _ := runWith(t, nil, "bench", "nosuchpart"); code != 2 {
		t.Errorf("unknown part: exit %d, want 2", code)
	}
}
