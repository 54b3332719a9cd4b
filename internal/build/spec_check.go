package build

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Problem is one way a model's answer breaks its schema or our rules, in
// plain words, at a JSON Pointer into the answer ("" for the whole
// answer). Its String is what goes back to the model.
type Problem struct {
	Path    string // like "/tasks/2/files"
	Message string // like "must have at least 1 item"
}

func (p Problem) String() string {
	if p.Path == "" {
		return "the answer: " + p.Message
	}
	return p.Path + ": " + p.Message
}

// ParseSpec reads a model's answer as a Spec: the JSON object (a ```json
// fence around it, or prose before it, is dropped), checked against
// SpecSchema and then Spec.Validate. Strings are trimmed of surrounding
// white space. The problems are nil when the spec is valid.
func ParseSpec(answer string) (Spec, []Problem) {
	var s Spec
	ps, ok := parse(answer, specSchema(), &s)
	if !ok {
		return s, ps
	}
	s = s.trimmed()
	return s, merge(ps, s.Validate())
}

// ParseQuestions reads a model's answer as a clarification: its questions
// (none when the description is clear enough), checked against
// QuestionsSchema and limited to MaxQuestions.
func ParseQuestions(answer string) ([]string, []Problem) {
	var q struct {
		Questions []string `json:"questions"`
	}
	ps, ok := parse(answer, questionsSchema(), &q)
	if !ok {
		return nil, ps
	}
	qs := trimAll(q.Questions)
	return qs, merge(ps, validateQuestions(qs))
}

// ParseVerdict reads a model's answer as a Verdict, checked against
// VerdictSchema and then Verdict.Validate.
func ParseVerdict(answer string) (Verdict, []Problem) {
	var v Verdict
	ps, ok := parse(answer, verdictSchema(), &v)
	if !ok || ps != nil {
		// Our rules read approve: not worth checking when it may be
		// missing or of the wrong type.
		return v, merge(ps, nil)
	}
	v.Reasons = trimAll(v.Reasons)
	return v, merge(ps, v.Validate())
}

func (s Spec) trimmed() Spec {
	s.Title, s.Summary = strings.TrimSpace(s.Title), strings.TrimSpace(s.Summary)
	s.Stack = trimAll(s.Stack)
	tasks := make([]Task, len(s.Tasks))
	for i, t := range s.Tasks {
		tasks[i] = Task{Title: strings.TrimSpace(t.Title), Does: strings.TrimSpace(t.Does),
			Files: trimAll(t.Files), DoneWhen: strings.TrimSpace(t.DoneWhen)}
	}
	if s.Tasks != nil {
		s.Tasks = tasks
	}
	return s
}

func trimAll(ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.TrimSpace(s)
	}
	return out
}

var (
	specSchema      = sync.OnceValue(func() *jsonschema.Schema { return compile("spec", SpecSchema) })
	questionsSchema = sync.OnceValue(func() *jsonschema.Schema { return compile("questions", QuestionsSchema) })
	verdictSchema   = sync.OnceValue(func() *jsonschema.Schema { return compile("verdict", VerdictSchema) })
)

// compile compiles one of our schemas; they are constants of the program,
// so a failure is a bug.
func compile(name string, schema map[string]any) *jsonschema.Schema {
	b, err := json.Marshal(schema)
	if err != nil {
		panic(fmt.Sprintf("build: the %s schema: %v", name, err))
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		panic(fmt.Sprintf("build: the %s schema: %v", name, err))
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	url := "urn:devbot:build:" + name
	if err := c.AddResource(url, doc); err != nil {
		panic(fmt.Sprintf("build: the %s schema: %v", name, err))
	}
	return c.MustCompile(url)
}

// parse decodes answer into v, best effort, and returns its schema
// problems, nil when there are none. ok is false when the answer is not
// JSON at all: v is untouched, and our own rules are not worth checking.
func parse(answer string, sch *jsonschema.Schema, v any) (ps []Problem, ok bool) {
	raw := ExtractJSON(answer)
	if raw == "" {
		return []Problem{{Message: "is empty: reply with the JSON object"}}, false
	}
	var probe any
	if err := json.Unmarshal([]byte(raw), &probe); err != nil {
		msg := err.Error()
		if se := (*json.SyntaxError)(nil); errors.As(err, &se) {
			msg = fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
		}
		return []Problem{{Message: "is not valid JSON: " + msg}}, false
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(raw))
	if err != nil { // cannot be: raw is JSON
		return []Problem{{Message: "is not valid JSON: " + err.Error()}}, false
	}
	if err := sch.Validate(doc); err != nil {
		ps = schemaProblems(err)
	}
	// Fields of the wrong type are skipped; the schema's problems name
	// them.
	_ = json.Unmarshal([]byte(raw), v)
	return ps, true
}

// merge adds to the schema's problems the rules' problems that are not
// about the same places, and sorts them by path.
func merge(schema, rules []Problem) []Problem {
	out := slices.Clone(schema)
	for _, r := range rules {
		if !slices.ContainsFunc(schema, func(s Problem) bool {
			return s.Path == "" || r.Path == s.Path || strings.HasPrefix(r.Path, s.Path+"/")
		}) {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b Problem) int { return comparePaths(a.Path, b.Path) })
	if len(out) == 0 {
		return nil
	}
	return out
}

// comparePaths orders JSON Pointers token by token, numbers as numbers
// (so /tasks/2 comes before /tasks/10).
func comparePaths(a, b string) int {
	at, bt := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; i < len(at) && i < len(bt); i++ {
		if at[i] == bt[i] {
			continue
		}
		an, aerr := strconv.Atoi(at[i])
		bn, berr := strconv.Atoi(bt[i])
		if aerr == nil && berr == nil {
			return an - bn
		}
		return strings.Compare(at[i], bt[i])
	}
	return len(at) - len(bt)
}

var printer = message.NewPrinter(language.English)

// schemaProblems lists a validation's failures in plain words, one per
// place, from the leaves of its tree of causes.
func schemaProblems(err error) []Problem {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []Problem{{Message: err.Error()}}
	}
	var out []Problem
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		out = append(out, describe(e)...)
	}
	walk(ve)
	return out
}

func describe(e *jsonschema.ValidationError) []Problem {
	at := pointer(e.InstanceLocation)
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		ps := make([]Problem, len(k.Missing))
		for i, m := range k.Missing {
			ps[i] = Problem{Path: at + "/" + escape(m), Message: "is missing (every property is required)"}
		}
		return ps
	case *kind.AdditionalProperties:
		ps := make([]Problem, len(k.Properties))
		for i, p := range k.Properties {
			ps[i] = Problem{Path: at + "/" + escape(p), Message: "is not allowed: there is no such property"}
		}
		return ps
	case *kind.Type:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = typeName(w)
		}
		return []Problem{{Path: at, Message: fmt.Sprintf("must be %s, not %s", strings.Join(want, " or "), typeName(k.Got))}}
	case *kind.MinItems:
		return []Problem{{Path: at, Message: fmt.Sprintf("must have at least %d %s", k.Want, plural(k.Want, "item"))}}
	case *kind.MaxItems:
		return []Problem{{Path: at, Message: fmt.Sprintf("must have at most %d %s (it has %d)", k.Want, plural(k.Want, "item"), k.Got)}}
	case *kind.MinLength:
		return []Problem{{Path: at, Message: fmt.Sprintf("must have at least %d %s", k.Want, plural(k.Want, "character"))}}
	case *kind.MaxLength:
		return []Problem{{Path: at, Message: fmt.Sprintf("must have at most %d %s (it has %d)", k.Want, plural(k.Want, "character"), k.Got)}}
	default:
		return []Problem{{Path: at, Message: e.ErrorKind.LocalizedString(printer)}}
	}
}

func typeName(t string) string {
	switch t {
	case "null":
		return "null"
	case "array", "object", "integer":
		return "an " + t
	default:
		return "a " + t
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteString("/" + escape(t))
	}
	return b.String()
}

func escape(token string) string {
	return strings.ReplaceAll(strings.ReplaceAll(token, "~", "~0"), "/", "~1")
}

// ExtractJSON returns the JSON value in a model's answer: the answer
// itself when it is JSON; else the inside of its first fenced block (```
// or ```json, as endpoints that ignore response_format write); else the
// text from its first '{' to its last '}'. When none of these is JSON it
// returns the fenced block, or the trimmed answer, for the parser to
// report.
func ExtractJSON(answer string) string {
	t := strings.TrimSpace(answer)
	if t == "" || json.Valid([]byte(t)) {
		return t
	}
	fenced := ""
	if i := strings.Index(t, "```"); i >= 0 {
		rest := t[i+3:]
		if nl := strings.IndexByte(rest, '\n'); nl >= 0 {
			body := rest[nl+1:]
			if j := strings.LastIndex(body, "```"); j >= 0 {
				body = body[:j]
			}
			fenced = strings.TrimSpace(strings.TrimRight(strings.TrimSpace(body), "`"))
			if json.Valid([]byte(fenced)) {
				return fenced
			}
		}
	}
	if i, j := strings.IndexByte(t, '{'), strings.LastIndexByte(t, '}'); i >= 0 && j > i && json.Valid([]byte(t[i:j+1])) {
		return t[i : j+1]
	}
	if fenced != "" {
		return fenced // invalid: its own errors are the useful ones
	}
	return t
}
