package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/llm"
	"github.com/devbot-hq/devbot/internal/llm/llmtest"
)

var pointFormat = llm.Format{Name: "point", Strict: true, Schema: map[string]any{
	"type": "object", "additionalProperties": false, "required": []any{"x", "y"},
	"properties": map[string]any{"x": map[string]any{"type": "integer"}, "y": map[string]any{"type": "integer"}},
}}

func TestCompleteJSONSendsTheSchema(t *testing.T) {
	t.Parallel()
	b := setup(t, llmtest.Response{Text: `{"x":1,"y":2}`, PromptTokens: 1000, CompletionTokens: 10})
	r, err := b.client.CompleteJSON(context.Background(), msgs, "", pointFormat)
	if err != nil {
		t.Fatal(err)
	}
	if r.Text != `{"x":1,"y":2}` || r.FinishReason != "stop" || r.PromptTokens != 1000 || math.Abs(r.CostUSD-(1000.0/1e6+10.0/1e6*4)) > 1e-12 {
		t.Errorf("reply %+v", r)
	}
	rf := b.srv.Requests()[0].ResponseFormat
	if rf == nil || rf.Type != "json_schema" || rf.JSONSchema == nil || rf.JSONSchema.Name != "point" ||
		rf.JSONSchema.Strict == nil || !*rf.JSONSchema.Strict {
		t.Fatalf("response_format %+v", rf)
	}
	want, _ := json.Marshal(pointFormat.Schema)
	got, _ := json.Marshal(rf.JSONSchema.Schema)
	if string(got) != string(want) {
		t.Errorf("schema sent %s, want %s", got, want)
	}
	if !strings.Contains(string(rf.Raw), `"type":"json_schema"`) {
		t.Errorf("raw %s", rf.Raw)
	}
}

func TestCompleteSendsNoResponseFormat(t *testing.T) {
	t.Parallel()
	b := setup(t, llmtest.Response{Text: "hi"}, llmtest.Response{Text: "{}"})
	if _, err := b.client.Complete(context.Background(), msgs, ""); err != nil {
		t.Fatal(err)
	}
	f := pointFormat
	f.Strict = false
	if _, err := b.client.CompleteJSON(context.Background(), msgs, "", f); err != nil {
		t.Fatal(err)
	}
	reqs := b.srv.Requests()
	if reqs[0].ResponseFormat != nil {
		t.Errorf("Complete sent response_format %s", reqs[0].ResponseFormat.Raw)
	}
	if rf := reqs[1].ResponseFormat; rf == nil || rf.JSONSchema == nil || rf.JSONSchema.Strict != nil {
		t.Errorf("non-strict format sent as %+v", rf)
	}
}

// CompleteJSON shares Complete's retries and classification.
func TestCompleteJSONRetriesAndClassifies(t *testing.T) {
	t.Parallel()
	b := setup(t, llmtest.Response{Status: 503}, llmtest.Response{Text: `{"x":1,"y":2}`})
	if _, err := b.client.CompleteJSON(context.Background(), msgs, "", pointFormat); err != nil {
		t.Fatal(err)
	}
	reqs := b.srv.Requests()
	if len(reqs) != 2 || reqs[1].ResponseFormat == nil {
		t.Errorf("requests %+v", reqs)
	}
	b = setup(t, llmtest.Response{Status: 401})
	if _, err := b.client.CompleteJSON(context.Background(), msgs, "", pointFormat); !fault.IsPermanent(err) || !errors.Is(err, fault.ErrUnauthorized) {
		t.Errorf("err %v", err)
	}
}

func TestCompleteJSONReportsCutOffAndRefusal(t *testing.T) {
	t.Parallel()
	b := setup(t, llmtest.Response{Text: `{"x":1,`, FinishReason: "length"},
		llmtest.Response{Refusal: "I can't help with that.", PromptTokens: 50, CompletionTokens: 5})
	r, err := b.client.CompleteJSON(context.Background(), msgs, "", pointFormat)
	if err != nil || r.FinishReason != "length" {
		t.Fatalf("reply %+v err %v", r, err)
	}
	r, err = b.client.CompleteJSON(context.Background(), msgs, "", pointFormat)
	if !fault.IsPermanent(err) || !errors.Is(err, llm.ErrRefused) || !errors.Is(err, fault.ErrInvalid) ||
		!strings.Contains(err.Error(), "I can't help") {
		t.Fatalf("err %v", err)
	}
	if r.PromptTokens != 50 || r.Refusal == "" {
		t.Errorf("a refusal's reply %+v", r)
	}
}

func TestCompleteJSONRefusesABadFormat(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, f := range []llm.Format{{Name: "", Schema: pointFormat.Schema}, {Name: "a b", Schema: pointFormat.Schema},
		{Name: strings.Repeat("a", 65), Schema: pointFormat.Schema}, {Name: "point"}} {
		if _, err := b.client.CompleteJSON(context.Background(), msgs, "", f); !fault.IsPermanent(err) || !errors.Is(err, fault.ErrInvalid) {
			t.Errorf("format %q: err %v", f.Name, err)
		}
	}
	if n := len(b.srv.Requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}
