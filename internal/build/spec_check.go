package build

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
	ps, ok := parse(answer, specSchema, &s)
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
	ps, ok := parse(answer, questionsSchema, &q)
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
	ps, ok := parse(answer, verdictSchema, &v)
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

// Our schemas, as the validator reads them.
var (
	specSchema      = SpecSchema
	questionsSchema = QuestionsSchema
	verdictSchema   = VerdictSchema
)

// parse decodes answer into v, best effort, and returns its schema
// problems, nil when there are none. ok is false when the answer is not
// JSON at all: v is untouched, and our own rules are not worth checking.
func parse(answer string, sch map[string]any, v any) (ps []Problem, ok bool) {
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
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil { // cannot be: raw is JSON
		return []Problem{{Message: "is not valid JSON: " + err.Error()}}, false
	}
	ps = validate(sch, doc, "")
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

// validate checks doc against schema, which uses only what our schemas
// use: type (object, array, string, boolean), properties, required,
// additionalProperties false, and items. (A general JSON Schema library
// cost every process 10 ms and 1.7 MB at start, compiling its drafts'
// metaschemas, for these three small schemas.) A value of the wrong type
// is one problem; its insides are not looked at.
func validate(schema map[string]any, doc any, at string) []Problem {
	want, _ := schema["type"].(string)
	if got := jsonType(doc); want != "" && got != want && !(want == "integer" && isInteger(doc)) {
		return []Problem{{Path: at, Message: fmt.Sprintf("must be %s, not %s", typeName(want), typeName(got))}}
	}
	var out []Problem
	switch d := doc.(type) {
	case map[string]any:
		props, _ := schema["properties"].(map[string]any)
		if req, ok := schema["required"].([]any); ok {
			for _, r := range req {
				name, _ := r.(string)
				if _, ok := d[name]; !ok {
					out = append(out, Problem{Path: at + "/" + escape(name), Message: "is missing (every property is required)"})
				}
			}
		}
		names := make([]string, 0, len(d))
		for name := range d {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			sub, ok := props[name].(map[string]any)
			if !ok {
				if extra, _ := schema["additionalProperties"].(bool); !extra {
					out = append(out, Problem{Path: at + "/" + escape(name), Message: "is not allowed: there is no such property"})
				}
				continue
			}
			out = append(out, validate(sub, d[name], at+"/"+escape(name))...)
		}
	case []any:
		if items, ok := schema["items"].(map[string]any); ok {
			for i, item := range d {
				out = append(out, validate(items, item, at+"/"+strconv.Itoa(i))...)
			}
		}
	}
	return out
}

// isInteger tells a whole number (decoded as json.Number).
func isInteger(v any) bool {
	n, ok := v.(json.Number)
	if !ok {
		return false
	}
	_, err := n.Int64()
	return err == nil
}

// jsonType names a decoded JSON value's type (numbers decoded as
// json.Number).
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case json.Number:
		return "number"
	}
	return fmt.Sprintf("%T", v)
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
