package deploycheck

import (
	"slices"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

func instances(t *testing.T, files map[string][]byte, delivery string) []*Instance {
	t.Helper()
	m, err := Parse(files)
	if err != nil {
		t.Fatal(err)
	}
	// With a GitHub repository, so that the Cloud Build trigger is made too.
	vars := testVars(delivery)
	vars["github_owner"] = cty.StringVal("devbot-hq")
	vars["github_repository"] = cty.StringVal("devbot")
	ins, err := m.Evaluate(vars)
	if err != nil {
		t.Fatal(err)
	}
	return ins
}

func TestTerraformUsesDocumentedSchema(t *testing.T) {
	t.Parallel()
	for _, delivery := range []string{"push", "eventarc"} {
		t.Run(delivery, func(t *testing.T) {
			t.Parallel()
			ins := instances(t, setup(t), delivery)
			for _, p := range CheckSchema(ins) {
				t.Error(p)
			}
			// Every resource type the module uses was looked at.
			types := map[string]bool{}
			for _, i := range ins {
				types[i.Type] = true
			}
			want := map[string]int{"push": 18, "eventarc": 20}[delivery]
			if len(types) != want {
				t.Errorf("saw %d resource types, want %d", len(types), want)
			}
		})
	}
}

func TestSchemaCheckFailsOnUndocumentedSchema(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		delivery string
		edit     replace
		want     string
	}{
		{"v4 secret replication", "push",
			replace{file: "secrets.tf", old: "replication {\n    auto {}\n  }", new: "replication {\n    automatic = true\n  }"},
			"replication.automatic is not a documented argument"},
		{"scaling argument misspelt", "push",
			replace{file: "run.tf", old: "min_instance_count = var", new: "min_instances      = var"},
			"template.scaling.min_instances is not a documented argument"},
		{"v1 IAM argument on a v2 service", "push",
			replace{file: "run.tf", old: "  name     = google_cloud_run_v2_service.function[each.key].name\n  role     = \"roles/run.invoker\"\n  member   = \"allUsers\"",
				new: "  service  = google_cloud_run_v2_service.function[each.key].name\n  role     = \"roles/run.invoker\"\n  member   = \"allUsers\""},
			"service is not a documented argument or block of google_cloud_run_v2_service_iam_member"},
		{"block nested at the wrong level", "push",
			replace{file: "run.tf", old: "    timeout                          = \"${var.limits[each.key].timeout_seconds}s\"\n",
				new: "    containers {\n      image   = var.image\n      timeout = \"30s\"\n    }\n    timeout                          = \"${var.limits[each.key].timeout_seconds}s\"\n"},
			"template.containers.timeout is not a documented argument"},
		{"eventarc destination misspelt", "eventarc",
			replace{file: "eventarc.tf", old: "cloud_run_service {", new: "cloud_run {"},
			"destination.cloud_run is not a documented argument"},
		{"ingress value", "push",
			replace{file: "run.tf", old: `ingress = "INGRESS_TRAFFIC_ALL"`, new: `ingress = "all"`},
			`ingress = "all" is not one of`},
		{"timeout without unit", "push",
			replace{file: "run.tf", old: `timeout         = "600s"`, new: `timeout         = "600"`},
			`template.template.timeout = "600" is not a duration`},
		{"backoff over 600s", "push",
			replace{file: "pubsub.tf", old: "maximum_backoff = var.retry_maximum_backoff", new: `maximum_backoff = "700s"`, n: 1},
			`retry_policy.maximum_backoff = "700s" is outside 0s..600s`},
		{"retention over 31 days", "push",
			replace{file: "pubsub.tf", old: "message_retention_duration = var.dead_letter_retention", new: `message_retention_duration = "3000000s"`},
			`message_retention_duration = "3000000s" is outside`},
		{"cloud build trigger: v1 push argument", "push",
			replace{file: "build.tf", old: "branch = var.github_branch", new: "branch_name = var.github_branch"},
			"github.push.branch_name is not a documented argument"},
		{"unlisted resource type", "push",
			replace{file: "versions.tf", old: `resource "google_project_service" "apis" {`, new: `resource "google_project_services" "apis" {`},
			"google_project_services: resource type not checked"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			files := setup(t)
			mutate(t, files, c.edit)
			problems := CheckSchema(instances(t, files, c.delivery))
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, c.want) }) {
				t.Errorf("no problem mentions %q; got:\n%s", c.want, problems.Error())
			}
		})
	}
}
