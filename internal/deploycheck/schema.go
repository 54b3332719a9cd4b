package deploycheck

import (
	"encoding/base64"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// documented lists, per resource type, the arguments and nested blocks
// (dotted paths, blocks included) that infra/terraform may use. Every
// entry was checked against the google provider's documentation for the
// versions versions.tf allows (>= 6.14, < 8.0): the field lists of
// hashicorp/terraform-provider-google's
// google/services/*/resource_*_generated_meta.yaml (Cloud Run v2 service
// and job, Pub/Sub subscription, Eventarc trigger, Secret Manager secret,
// Artifact Registry repository, Cloud Build trigger; resource_google_*
// _meta.yaml for the handwritten service account and project service),
// the IAM pages website/docs/r/*_iam.html.markdown, the 5.0 upgrade guide
// (replication.automatic removed for replication.auto) and the 6.0 and 7.0
// upgrade guides (nothing here affected). terraform_data is Terraform's
// own (developer.hashicorp.com/terraform/language/resources/terraform-data).
//
// Terraform validate cannot run where the tests run (the provider cannot
// be downloaded), so this list is what catches a misspelt or misplaced
// argument. Adding a path means checking it in the documentation first.
var documented = map[string][]string{
	"google_project": {"project_id"},
	"google_project_service": {"project", "service", "disable_on_destroy",
		"disable_dependent_services"},
	"google_project_iam_member": {"project", "role", "member"},
	"google_service_account": {"project", "account_id", "display_name", "description", "disabled",
		"create_ignore_already_exists"},
	"google_service_account_iam_member": {"service_account_id", "role", "member"},
	"google_artifact_registry_repository": {"project", "location", "repository_id", "format",
		"description", "labels", "mode", "kms_key_name"},
	"google_artifact_registry_repository_iam_member": {"project", "location", "repository", "role", "member"},

	"google_cloud_run_v2_service": {"project", "location", "name", "description", "labels", "annotations",
		"client", "client_version", "ingress", "deletion_protection", "custom_audiences",
		"invoker_iam_disabled", "launch_stage",
		"template", "template.revision", "template.labels", "template.annotations",
		"template.service_account", "template.timeout", "template.max_instance_request_concurrency",
		"template.execution_environment", "template.encryption_key", "template.session_affinity",
		"template.scaling", "template.scaling.min_instance_count", "template.scaling.max_instance_count",
		"template.containers", "template.containers.name", "template.containers.image",
		"template.containers.command", "template.containers.args", "template.containers.working_dir",
		"template.containers.depends_on",
		"template.containers.ports", "template.containers.ports.container_port", "template.containers.ports.name",
		"template.containers.resources", "template.containers.resources.limits",
		"template.containers.resources.cpu_idle", "template.containers.resources.startup_cpu_boost",
		"template.containers.env", "template.containers.env.name", "template.containers.env.value",
		"template.containers.env.value_source", "template.containers.env.value_source.secret_key_ref",
		"template.containers.env.value_source.secret_key_ref.secret",
		"template.containers.env.value_source.secret_key_ref.version",
		"traffic", "traffic.type", "traffic.percent", "traffic.revision", "traffic.tag"},
	"google_cloud_run_v2_service_iam_member": {"project", "location", "name", "role", "member"},
	"google_cloud_run_v2_job": {"project", "location", "name", "labels", "annotations", "client",
		"client_version", "deletion_protection", "launch_stage",
		"template", "template.labels", "template.annotations", "template.task_count", "template.parallelism",
		"template.template", "template.template.service_account", "template.template.timeout",
		"template.template.max_retries", "template.template.execution_environment",
		"template.template.encryption_key",
		"template.template.containers", "template.template.containers.name",
		"template.template.containers.image", "template.template.containers.command",
		"template.template.containers.args", "template.template.containers.working_dir",
		"template.template.containers.resources", "template.template.containers.resources.limits",
		"template.template.containers.env", "template.template.containers.env.name",
		"template.template.containers.env.value", "template.template.containers.env.value_source",
		"template.template.containers.env.value_source.secret_key_ref",
		"template.template.containers.env.value_source.secret_key_ref.secret",
		"template.template.containers.env.value_source.secret_key_ref.version"},

	"google_pubsub_topic": {"project", "name", "labels"},
	"google_pubsub_subscription": {"project", "name", "topic", "labels", "ack_deadline_seconds",
		"message_retention_duration", "retain_acked_messages", "enable_message_ordering",
		"enable_exactly_once_delivery", "filter",
		"push_config", "push_config.push_endpoint", "push_config.attributes",
		"push_config.oidc_token", "push_config.oidc_token.service_account_email", "push_config.oidc_token.audience",
		"push_config.no_wrapper", "push_config.no_wrapper.write_metadata",
		"dead_letter_policy", "dead_letter_policy.dead_letter_topic", "dead_letter_policy.max_delivery_attempts",
		"retry_policy", "retry_policy.minimum_backoff", "retry_policy.maximum_backoff",
		"expiration_policy", "expiration_policy.ttl"},
	"google_pubsub_topic_iam_member":        {"project", "topic", "role", "member"},
	"google_pubsub_subscription_iam_member": {"project", "subscription", "role", "member"},

	"google_eventarc_trigger": {"project", "location", "name", "labels", "service_account",
		"event_data_content_type",
		"matching_criteria", "matching_criteria.attribute", "matching_criteria.value", "matching_criteria.operator",
		"transport", "transport.pubsub", "transport.pubsub.topic",
		"destination", "destination.cloud_run_service", "destination.cloud_run_service.service",
		"destination.cloud_run_service.region", "destination.cloud_run_service.path"},

	"google_secret_manager_secret": {"project", "secret_id", "labels", "annotations", "ttl", "expire_time",
		"version_aliases", "version_destroy_ttl", "deletion_protection",
		"replication", "replication.auto", "replication.auto.customer_managed_encryption",
		"replication.auto.customer_managed_encryption.kms_key_name",
		"replication.user_managed", "replication.user_managed.replicas",
		"replication.user_managed.replicas.location"},
	"google_secret_manager_secret_iam_member": {"project", "secret_id", "role", "member"},

	"google_cloudbuild_trigger": {"project", "location", "name", "description", "tags", "disabled",
		"filename", "service_account", "substitutions", "included_files", "ignored_files", "include_build_logs",
		"github", "github.owner", "github.name", "github.push", "github.push.branch", "github.push.tag",
		"github.push.invert_regex", "github.pull_request", "github.pull_request.branch",
		"github.pull_request.comment_control", "github.pull_request.invert_regex"},

	// Checked against website/docs/r/cloud_scheduler_job.html.markdown
	// (google provider 6.x and 7.x: no change to these fields).
	"google_cloud_scheduler_job": {"project", "region", "name", "description", "schedule", "time_zone", "paused",
		"attempt_deadline",
		"retry_config", "retry_config.retry_count", "retry_config.max_retry_duration",
		"retry_config.min_backoff_duration", "retry_config.max_backoff_duration", "retry_config.max_doublings",
		"pubsub_target", "pubsub_target.topic_name", "pubsub_target.data", "pubsub_target.attributes"},

	"terraform_data": {"input", "triggers_replace"},
}

// ingressValues are google_cloud_run_v2_service's documented ingress values.
var ingressValues = []string{"INGRESS_TRAFFIC_ALL", "INGRESS_TRAFFIC_INTERNAL_ONLY", "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"}

// duration is the provider's duration format: seconds with up to nine
// fractional digits, ending in "s" ("3.5s").
var duration = regexp.MustCompile(`^[0-9]+(\.[0-9]{1,9})?s$`)

// CheckSchema names every argument or block that is not in the documented
// list for its resource type, and every value outside the documented
// format or range.
func CheckSchema(instances []*Instance) Problems {
	var p Problems
	seen := map[string]bool{} // one report per type and path
	for _, i := range instances {
		allowed, ok := documented[i.Type]
		if !ok {
			if !seen[i.Type] {
				seen[i.Type] = true
				p = append(p, fmt.Sprintf("%s: resource type not checked against the provider's documentation (deploycheck's documented list)", i.Type))
			}
			continue
		}
		walkSchema(i.Node, "", func(path string) {
			if !slices.Contains(allowed, path) && !seen[i.Type+" "+path] {
				seen[i.Type+" "+path] = true
				p = append(p, fmt.Sprintf("%s: %s is not a documented argument or block of %s", i.Address(), path, i.Type))
			}
		})
		p = append(p, checkValues(i)...)
	}
	return p
}

func walkSchema(n *Node, prefix string, visit func(path string)) {
	if n == nil {
		return
	}
	for _, name := range sortedKeys(n.Attrs) {
		visit(prefix + name)
	}
	for _, b := range n.Blocks {
		visit(prefix + b.Type)
		walkSchema(b.Node, prefix+b.Type+".", visit)
	}
}

// checkValues checks the documented formats and ranges of the values the
// module sets.
func checkValues(i *Instance) Problems {
	var p Problems
	bad := func(format string, args ...any) {
		p = append(p, i.Address()+": "+fmt.Sprintf(format, args...))
	}
	// secs checks a duration attribute of n against [lo, hi] seconds.
	secs := func(n *Node, path, name string, lo, hi float64) {
		v, ok := textOf(n, name)
		if !ok {
			return
		}
		if !duration.MatchString(v) {
			bad("%s = %q is not a duration in seconds ending in \"s\" (\"540s\")", path, v)
			return
		}
		f, _, _ := big.ParseFloat(strings.TrimSuffix(v, "s"), 10, 64, big.ToNearestEven)
		if s, _ := f.Float64(); s < lo || s > hi {
			bad("%s = %q is outside %gs..%gs", path, v, lo, hi)
		}
	}
	// rng checks a number attribute of n against [lo, hi].
	rng := func(n *Node, path, name string, lo, hi int) {
		if n == nil {
			return
		}
		v, ok := n.Attrs[name]
		if !ok || !v.IsWhollyKnown() || v.IsNull() {
			return
		}
		if k := number(v); k < lo || k > hi {
			bad("%s = %d is outside %d..%d", path, k, lo, hi)
		}
	}
	switch i.Type {
	case "google_cloud_run_v2_service":
		if v, ok := textOf(i.Node, "ingress"); ok && !slices.Contains(ingressValues, v) {
			bad("ingress = %q is not one of %s", v, strings.Join(ingressValues, ", "))
		}
		// Cloud Run's request timeout: at most 60 minutes.
		secs(i.Block("template"), "template.timeout", "timeout", 1, 3600)
	case "google_cloud_run_v2_job":
		// The format only: the task timeout's limit has changed over time.
		secs(i.Block("template", "template"), "template.template.timeout", "timeout", 1, 1e12)
	case "google_cloud_scheduler_job":
		// retry_count: 0 to 5; pubsub_target.data is base64 (the API
		// refuses anything else).
		rng(i.Block("retry_config"), "retry_config.retry_count", "retry_count", 0, 5)
		if v, ok := textOf(i.Block("pubsub_target"), "data"); ok {
			if _, err := base64.StdEncoding.DecodeString(v); err != nil {
				bad("pubsub_target.data is not base64: %v", err)
			}
		}
	case "google_pubsub_subscription":
		rng(i.Node, "ack_deadline_seconds", "ack_deadline_seconds", 10, 600)
		// 10 minutes to 31 days.
		secs(i.Node, "message_retention_duration", "message_retention_duration", 600, 31*24*3600)
		rng(i.Block("dead_letter_policy"), "dead_letter_policy.max_delivery_attempts", "max_delivery_attempts", 5, 100)
		secs(i.Block("retry_policy"), "retry_policy.minimum_backoff", "minimum_backoff", 0, 600)
		secs(i.Block("retry_policy"), "retry_policy.maximum_backoff", "maximum_backoff", 0, 600)
		// "" never expires; otherwise at least one day.
		if v, ok := textOf(i.Block("expiration_policy"), "ttl"); ok && v != "" {
			secs(i.Block("expiration_policy"), "expiration_policy.ttl", "ttl", 24*3600, 1e12)
		}
	}
	return p
}

// textOf returns the attribute's value when it is set to a known string.
func textOf(n *Node, name string) (string, bool) {
	if n == nil {
		return "", false
	}
	v, ok := n.Attrs[name]
	if !ok || !v.IsWhollyKnown() || v.IsNull() {
		return "", false
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		return "", false
	}
	return s.AsString(), true
}
