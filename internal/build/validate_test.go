package build

import (
	"encoding/json"
	"strings"
	"testing"
)

// The validator of our schemas' subset: a wrong type is one problem at its
// place (its insides unread), a missing or unknown property one each, and
// every item of an array is checked.
func TestValidateSubset(t *testing.T) {
	t.Parallel()
	schema := map[string]any{
		"type": "object", "additionalProperties": false, "required": []any{"ok", "n", "list"},
		"properties": map[string]any{
			"ok":   map[string]any{"type": "boolean"},
			"n":    map[string]any{"type": "integer"},
			"list": map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
		},
	}
	for doc, want := range map[string]string{
		`{"ok": true, "n": 3, "list": ["a", "b"]}`:         "",
		`{"ok": "yes", "n": 3.5, "list": ["a", 2, null]}`:  "/list/1: must be a string, not a number; /list/2: must be a string, not null; /n: must be an integer, not a number; /ok: must be a boolean, not a string",
		`{"n": 1, "list": {"a": 1}, "extra/x": []}`:        "/ok: is missing (every property is required); /extra~1x: is not allowed: there is no such property; /list: must be an array, not an object",
		`["not", "an", "object"]`:                          ": must be an object, not an array",
		`{"ok": false, "n": 0, "list": [], "list2": null}`: "/list2: is not allowed: there is no such property",
	} {
		dec := json.NewDecoder(strings.NewReader(doc))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range validate(schema, v, "") {
			got = append(got, p.Path+": "+p.Message)
		}
		if strings.Join(got, "; ") != want {
			t.Errorf("%s:\n got  %q\n want %q", doc, strings.Join(got, "; "), want)
		}
	}
}
