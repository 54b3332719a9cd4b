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

// TestDeployOwnedFieldsAreIgnored: what cloudbuild.yaml's gcloud deploy
// changes on the services and the job (the image, the client gcloud records,
// the revision name and the annotations and labels gcloud sets, the labels
// an operator sets to roll secrets) is in ignore_changes, so a plan after a
// deploy is clean (issue 13 item 12).
func TestDeployOwnedFieldsAreIgnored(t *testing.T) {
	t.Parallel()
	m, err := Parse(setup(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range CheckLifecycle(m) {
		t.Error(p)
	}
	// Dropping one entry is reported.
	files := setup(t)
	mutate(t, files, replace{file: "run.tf", old: "      template[0].annotations,\n", new: "", n: 1})
	broken, err := Parse(files)
	if err != nil {
		t.Fatal(err)
	}
	if p := CheckLifecycle(broken); !slices.ContainsFunc(p, func(s string) bool {
		return strings.Contains(s, "google_cloud_run_v2_service.function") && strings.Contains(s, "template[0].annotations")
	}) {
		t.Errorf("a service without template[0].annotations in ignore_changes passed: %v", p)
	}
}
