package deploycheck

import (
	"fmt"

	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// computed lists the attributes the provider computes that the module
// reads: known where the provider's format is fixed, unknown otherwise.
func computed(project string, i *Instance) map[string]cty.Value {
	unknown := cty.UnknownVal(cty.String)
	s := func(format string, args ...any) cty.Value {
		for _, a := range args {
			if a == "" {
				return unknown
			}
		}
		return cty.StringVal(fmt.Sprintf(format, args...))
	}
	name := i.Text("name")
	out := map[string]cty.Value{"id": unknown}
	switch i.Type {
	case "google_project":
		out["number"] = unknown
		out["name"] = unknown
	case "google_pubsub_topic":
		out["id"] = s("projects/%s/topics/%s", project, name)
	case "google_pubsub_subscription":
		out["id"] = s("projects/%s/subscriptions/%s", project, name)
	case "google_cloud_run_v2_service":
		// The real URL carries a hash; a stand-in of the same shape lets
		// the checks follow which service a subscription pushes to.
		out["uri"] = s("https://%s.run.app", name)
		out["id"] = s("projects/%s/locations/%s/services/%s", project, i.Text("location"), name)
	case "google_cloud_run_v2_job":
		out["id"] = s("projects/%s/locations/%s/jobs/%s", project, i.Text("location"), name)
	case "google_service_account":
		email := s("%s@%s.iam.gserviceaccount.com", i.Text("account_id"), project)
		out["email"] = email
		if email.IsKnown() {
			out["member"] = cty.StringVal("serviceAccount:" + email.AsString())
			out["name"] = s("projects/%s/serviceAccounts/%s", project, email.AsString())
		} else {
			out["member"], out["name"] = unknown, unknown
		}
		out["id"] = out["name"]
		out["unique_id"] = unknown
	case "google_secret_manager_secret":
		out["name"] = unknown // projects/NUMBER/secrets/ID
		out["id"] = s("projects/%s/secrets/%s", project, i.Text("secret_id"))
	case "google_artifact_registry_repository":
		out["name"] = s("%s", i.Text("repository_id"))
	case "google_eventarc_trigger":
		// transport[0].pubsub[0].subscription is made by Eventarc.
		transport := i.Block("transport", "pubsub")
		topic := cty.Value(unknown)
		if transport != nil {
			topic = transport.Attrs["topic"]
		}
		out["transport"] = cty.TupleVal([]cty.Value{cty.ObjectVal(map[string]cty.Value{
			"pubsub": cty.TupleVal([]cty.Value{cty.ObjectVal(map[string]cty.Value{
				"topic": topic, "subscription": unknown})})})})
	case "terraform_data":
		if in, ok := i.Attrs["input"]; ok {
			out["output"] = in
		}
	}
	return out
}

func tfFunctions() map[string]function.Function {
	to := func(t cty.Type) function.Function {
		return function.New(&function.Spec{
			Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType, AllowNull: true, AllowUnknown: true, AllowDynamicType: true}},
			Type: func(args []cty.Value) (cty.Type, error) {
				if t.HasDynamicTypes() {
					v, err := convert.Convert(args[0], t)
					if err != nil {
						return cty.NilType, err
					}
					return v.Type(), nil
				}
				return t, nil
			},
			Impl: func(args []cty.Value, ret cty.Type) (cty.Value, error) {
				return convert.Convert(args[0], ret)
			},
		})
	}
	// alltrue and anytrue are Terraform's own (not in cty's stdlib).
	truth := func(all bool) function.Function {
		return function.New(&function.Spec{
			Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
			Type:   function.StaticReturnType(cty.Bool),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				for it := args[0].ElementIterator(); it.Next(); {
					_, v := it.Element()
					if !v.IsKnown() {
						return cty.UnknownVal(cty.Bool), nil
					}
					if v.IsNull() {
						return cty.False, fmt.Errorf("the list holds a null")
					}
					if v.True() != all {
						return cty.BoolVal(!all), nil
					}
				}
				return cty.BoolVal(all), nil
			},
		})
	}
	return map[string]function.Function{
		"alltrue": truth(true), "anytrue": truth(false),
		"trimsuffix": stdlib.TrimSuffixFunc, "trimprefix": stdlib.TrimPrefixFunc,
		"abs": stdlib.AbsoluteFunc, "ceil": stdlib.CeilFunc, "floor": stdlib.FloorFunc,
		"min": stdlib.MinFunc, "max": stdlib.MaxFunc,
		"concat": stdlib.ConcatFunc, "contains": stdlib.ContainsFunc, "distinct": stdlib.DistinctFunc,
		"flatten": stdlib.FlattenFunc, "keys": stdlib.KeysFunc, "values": stdlib.ValuesFunc,
		"length": stdlib.LengthFunc, "lookup": stdlib.LookupFunc, "merge": stdlib.MergeFunc,
		"element": stdlib.ElementFunc, "coalesce": stdlib.CoalesceFunc,
		"join": stdlib.JoinFunc, "split": stdlib.SplitFunc,
		"lower": stdlib.LowerFunc, "upper": stdlib.UpperFunc, "replace": stdlib.ReplaceFunc,
		"regex": stdlib.RegexFunc, "jsonencode": stdlib.JSONEncodeFunc,
		"tostring": to(cty.String), "tonumber": to(cty.Number), "tobool": to(cty.Bool),
		"toset": to(cty.Set(cty.DynamicPseudoType)), "tolist": to(cty.List(cty.DynamicPseudoType)),
		"tomap": to(cty.Map(cty.DynamicPseudoType)),
		"can":   tryfunc.CanFunc, "try": tryfunc.TryFunc,
	}
}
