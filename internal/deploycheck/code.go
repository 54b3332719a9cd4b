package deploycheck

import (
	"slices"

	"github.com/devbot-hq/devbot/functions"
	"github.com/devbot-hq/devbot/internal/config"
)

// Code is what the code declares, as the checks need it.
type Code struct {
	// Targets are the registered functions and the configuration groups
	// each needs.
	Targets []Target
	// Vars are the environment variables the code reads.
	Vars []config.Var
	// Topics maps each topic variable (TOPIC_*) to its default name.
	Topics map[string]string
	// Consumes maps each consumer function to the topic variable it
	// receives from; Publishes each function to the ones it publishes to.
	Consumes  map[string]string
	Publishes map[string][]string
	// Ordered lists the topic variables whose publishers set ordering keys.
	Ordered map[string]bool
	// PushSubscription and DeadLetterTopic name a topic's push
	// subscription and dead-letter topic as devbot dev (internal/devstack)
	// and the README's Deployment section name them.
	PushSubscription func(topic string) string
	DeadLetterTopic  func(topic string) string
	// DeadLetterPath is where a consumer takes its dead-letter topic's
	// pushes (functions.DeadLetterPath); empty skips that check.
	DeadLetterPath string
	// PushAuthVars are the audience and service-account variables without
	// which a consumer refuses to start in production
	// (functions.PushAuthVars); empty skips those checks.
	PushAuthVars []string
	// MigrateNeeds are the groups `devbot migrate` needs.
	MigrateNeeds []config.Group
	// Load, when set, is the code's own configuration loader: each service's
	// environment (secrets stood in for) must pass it.
	Load func(lookup func(string) (string, bool), needs ...config.Group) (*config.Config, error)
}

// Target is one registered function.
type Target struct {
	Name  string
	Needs []config.Group
}

// FromCode collects the code's facts from the functions and config packages.
func FromCode() Code {
	c := Code{
		Vars:             slices.Clone(config.Vars),
		Topics:           map[string]string{},
		Consumes:         map[string]string{},
		Publishes:        map[string][]string{},
		Ordered:          functions.OrderedTopics,
		MigrateNeeds:     []config.Group{config.Database},
		PushSubscription: functions.PushSubscription,
		DeadLetterTopic:  functions.DeadLetterTopic,
		DeadLetterPath:   functions.DeadLetterPath,
		PushAuthVars:     slices.Clone(functions.PushAuthVars),
		Load:             config.Load,
	}
	for _, t := range functions.Targets() {
		c.Targets = append(c.Targets, Target{Name: t.Name, Needs: slices.Clone(t.Needs)})
		if t.Consumes != "" {
			c.Consumes[t.Name] = t.Consumes
		}
		if len(t.Publishes) > 0 {
			c.Publishes[t.Name] = slices.Clone(t.Publishes)
		}
	}
	for _, v := range config.Vars {
		if len(v.Name) > len("TOPIC_") && v.Name[:len("TOPIC_")] == "TOPIC_" {
			c.Topics[v.Name] = v.Default
		}
	}
	return c
}

func (c Code) target(name string) (Target, bool) {
	i := slices.IndexFunc(c.Targets, func(t Target) bool { return t.Name == name })
	if i < 0 {
		return Target{}, false
	}
	return c.Targets[i], true
}

func (c Code) variable(name string) (config.Var, bool) {
	i := slices.IndexFunc(c.Vars, func(v config.Var) bool { return v.Name == name })
	if i < 0 {
		return config.Var{}, false
	}
	return c.Vars[i], true
}
