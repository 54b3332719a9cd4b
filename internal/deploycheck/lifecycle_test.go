package deploycheck

import (
	"slices"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// TestVariablesAreValidated: the variables that reach Pub/Sub and Cloud Run
// are checked by Terraform before a plan (issue 13 item 13), and
// deploycheck evaluates those checks as Terraform does, so a bad value is
// refused here and at `terraform plan`, never halfway through an apply.
func TestVariablesAreValidated(t *testing.T) {
	t.Parallel()
	m, err := Parse(setup(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"delivery", "max_delivery_attempts", "limits", "supabase_url",
		"retry_minimum_backoff", "retry_maximum_backoff", "dead_letter_retention", "log_level"} {
		if !slices.Contains(m.Validated(), name) {
			t.Errorf("variable %s has no validation block", name)
		}
	}
	cases := []struct {
		name, value string
		ok          bool
	}{
		{"retry_minimum_backoff", "0s", true},
		{"retry_minimum_backoff", "2.5s", true},
		{"retry_minimum_backoff", "10", false},
		{"retry_minimum_backoff", "1m", false},
		{"retry_minimum_backoff", "601s", false},
		{"retry_maximum_backoff", "600s", true},
		{"retry_maximum_backoff", "700s", false},
		{"retry_maximum_backoff", "-1s", false},
		{"dead_letter_retention", "600s", true},
		{"dead_letter_retention", "2678400s", true},
		{"dead_letter_retention", "599s", false},
		{"dead_letter_retention", "3000000s", false},
		{"dead_letter_retention", "14d", false},
		{"log_level", "debug", true},
		{"log_level", "verbose", false},
	}
	for _, c := range cases {
		vars := testVars("push")
		vars[c.name] = cty.StringVal(c.value)
		_, err := m.Evaluate(vars)
		switch {
		case c.ok && err != nil:
			t.Errorf("%s = %q refused: %v", c.name, c.value, err)
		case !c.ok && (err == nil || !strings.Contains(err.Error(), "variable "+c.name)):
			t.Errorf("%s = %q: error %v, want one naming the variable", c.name, c.value, err)
		}
	}
}
