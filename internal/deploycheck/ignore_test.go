package deploycheck

import (
	"os"
	"testing"
)

// What must never leave the operator's machine with `gcloud builds submit`
// or reach the image's build context (issue 13 item 10): Terraform's
// provider cache (~126 MB), its state (which holds every resource's
// attributes), tfvars, a locally built binary, the local stack's data, .env.
var private = []string{
	"infra/terraform/.terraform/providers/registry.terraform.io/hashicorp/google/7.0.0/linux_amd64/terraform-provider-google",
	"infra/terraform/terraform.tfstate",
	"infra/terraform/terraform.tfstate.backup",
	"infra/terraform/terraform.tfvars",
	"infra/terraform/prod.auto.tfvars",
	"infra/terraform/prod.tfvars.json",
	"infra/terraform/plan.tfplan",
	"devbot",
	"bin/devbot",
	".env",
	".devbot/postgres/PG_VERSION",
	"functions/functions.test",
}

// What the build needs.
var needed = []string{"go.mod", "go.sum", "cloudbuild.yaml", "infra/Dockerfile",
	"functions/cmd/devbot/main.go", "internal/db/migrations/00001_schema.sql", "internal/config/config.go",
	"infra/terraform/run.tf"}

func checkIgnore(t *testing.T, file string, rules *IgnoreRules, wantNeeded []string) {
	t.Helper()
	for _, p := range private {
		if !rules.Ignored(p) {
			t.Errorf("%s lets %s through", file, p)
		}
	}
	for _, p := range wantNeeded {
		if rules.Ignored(p) {
			t.Errorf("%s leaves out %s, which the build needs", file, p)
		}
	}
}

func TestGcloudIgnoreKeepsPrivateFilesLocal(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../.gcloudignore")
	if err != nil {
		t.Fatalf("no .gcloudignore: gcloud builds submit would upload what .gitignore does not exclude: %v", err)
	}
	checkIgnore(t, ".gcloudignore", ParseGcloudIgnore(string(b)), needed)
}

func TestDockerIgnoreKeepsPrivateFilesOutOfTheContext(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../infra/Dockerfile.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	// The image is built from Go sources only; cloudbuild.yaml and the
	// Terraform need not be in the context, but nothing else may be lost.
	checkIgnore(t, "infra/Dockerfile.dockerignore", ParseDockerIgnore(string(b)),
		[]string{"go.mod", "go.sum", "functions/cmd/devbot/main.go", "internal/db/migrations/00001_schema.sql", "internal/config/config.go"})
}

// The matchers follow each tool's rules, so the tests above can fail.
func TestIgnoreRules(t *testing.T) {
	t.Parallel()
	g := ParseGcloudIgnore("# c\n*.tfstate\n/devbot\n.terraform/\ninfra/*.tfvars\n!keep.tfstate\n")
	d := ParseDockerIgnore("*.tfstate\ndevbot\n**/.terraform\n!keep.tfstate\n")
	for _, c := range []struct {
		r    *IgnoreRules
		path string
		want bool
	}{
		{g, "a/b/x.tfstate", true}, {g, "keep.tfstate", false}, {g, "devbot", true}, {g, "functions/cmd/devbot/main.go", false},
		{g, "infra/terraform/.terraform/p", true}, {g, ".terraform", false}, // a file named like the directory
		{g, "infra/x.tfvars", true}, {g, "infra/terraform/x.tfvars", false},
		{d, "x.tfstate", true}, {d, "a/x.tfstate", false}, {d, "devbot", true}, {d, "functions/cmd/devbot/main.go", false},
		{d, "infra/terraform/.terraform/p", true}, {d, "keep.tfstate", false},
	} {
		if got := c.r.Ignored(c.path); got != c.want {
			t.Errorf("docker=%t Ignored(%q) = %t, want %t", c.r.docker, c.path, got, c.want)
		}
	}
}
