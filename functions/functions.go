// Package functions is devbot's composition root: the seven Cloud Run
// functions, what each needs from the configuration, and the dependencies
// they share, built once per instance.
//
// Every function is an HTTP function registered with functions-framework-go
// (see register.go). The consumers decode Pub/Sub push and Eventarc requests
// themselves: the framework's CloudEvent path loses deliveryAttempt and
// orderingKey and answers 500 to every error (DESIGN.md).
package functions

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/devbot-hq/devbot/internal/config"
)

// Target is one deployable function.
type Target struct {
	Name string
	// Needs lists the configuration groups the function cannot start without.
	Needs []config.Group
	// Build constructs the function's handler from the shared dependencies.
	Build func(ctx context.Context, d *Deps) (http.Handler, error)
	// Consumes is the TOPIC_* variable naming the topic a consumer receives
	// from through its push subscription; empty for the webhooks.
	Consumes string
	// Publishes lists the TOPIC_* variables of the topics it publishes to.
	Publishes []string
}

// The message flow of DESIGN.md, as devbot dev wires it locally and infra/
// in production (internal/deploycheck holds Terraform to it).
const (
	TopicTelegramUpdatesVar = "TOPIC_TELEGRAM_UPDATES"
	TopicStripeEventsVar    = "TOPIC_STRIPE_EVENTS"
	TopicRefineJobsVar      = "TOPIC_REFINE_JOBS"
	TopicSweepVar           = "TOPIC_SWEEP"
	TopicBuildStepsVar      = "TOPIC_BUILD_STEPS"
)

// OrderedTopics are the topic variables whose publishers set ordering keys
// (the chat id for updates, project/path for jobs): their subscriptions must
// enable message ordering.
var OrderedTopics = map[string]bool{TopicTelegramUpdatesVar: true, TopicRefineJobsVar: true, TopicBuildStepsVar: true}

// PushSubscription names a topic's push subscription.
func PushSubscription(topic string) string { return topic + "-push" }

// DeadLetterTopic names a topic's dead-letter topic.
func DeadLetterTopic(topic string) string { return topic + "-dead-letter" }

// TopicName resolves a topic variable to the configured topic id.
func TopicName(cfg *config.Config, variable string) string {
	switch variable {
	case TopicTelegramUpdatesVar:
		return cfg.TopicTelegramUpdates
	case TopicStripeEventsVar:
		return cfg.TopicStripeEvents
	case TopicRefineJobsVar:
		return cfg.TopicRefineJobs
	case TopicSweepVar:
		return cfg.TopicSweep
	case TopicBuildStepsVar:
		return cfg.TopicBuildSteps
	}
	return ""
}

// Function names, as Terraform and FUNCTION_TARGET spell them.
const (
	TelegramWebhookName = "TelegramWebhook"
	StripeWebhookName   = "StripeWebhook"
	TelegramUpdatesName = "TelegramUpdates"
	RefineJobsName      = "RefineJobs"
	StripeEventsName    = "StripeEvents"
	SweeperName         = "Sweeper"
	BuildStepsName      = "BuildSteps"
)

// Targets lists every function, in a stable order.
func Targets() []Target {
	return []Target{
		{Name: TelegramWebhookName, Needs: []config.Group{config.TelegramWebhook, config.PubSub}, Build: buildTelegramWebhook,
			Publishes: []string{TopicTelegramUpdatesVar}},
		{Name: StripeWebhookName, Needs: []config.Group{config.StripeWebhook, config.PubSub}, Build: buildStripeWebhook,
			Publishes: []string{TopicStripeEventsVar}},
		{Name: TelegramUpdatesName, Needs: []config.Group{config.Database, config.Storage, config.PubSub, config.TelegramAPI, config.StripeAPI, config.Crypto}, Build: buildTelegramUpdates,
			Consumes: TopicTelegramUpdatesVar, Publishes: []string{TopicRefineJobsVar, TopicBuildStepsVar}},
		{Name: RefineJobsName, Needs: []config.Group{config.Database, config.Storage, config.TelegramAPI, config.Crypto, config.LLM}, Build: buildRefineJobs,
			Consumes: TopicRefineJobsVar},
		{Name: StripeEventsName, Needs: []config.Group{config.Database, config.TelegramAPI}, Build: buildStripeEvents,
			Consumes: TopicStripeEventsVar},
		{Name: SweeperName, Needs: []config.Group{config.Database, config.Storage, config.PubSub, config.TelegramAPI}, Build: buildSweeper,
			Consumes: TopicSweepVar, Publishes: []string{TopicRefineJobsVar, TopicBuildStepsVar}},
		{Name: BuildStepsName, Needs: []config.Group{config.Database, config.Storage, config.PubSub, config.TelegramAPI, config.Crypto, config.LLM}, Build: buildBuildSteps,
			Consumes: TopicBuildStepsVar, Publishes: []string{TopicBuildStepsVar}},
	}
}

// Names lists the function names.
func Names() []string {
	var names []string
	for _, t := range Targets() {
		names = append(names, t.Name)
	}
	return names
}

// Lookup finds a target by its exact name.
func Lookup(name string) (Target, bool) {
	i := slices.IndexFunc(Targets(), func(t Target) bool { return t.Name == name })
	if i < 0 {
		return Target{}, false
	}
	return Targets()[i], true
}

// Select returns the targets to serve: the one named by functionTarget, or
// all when it is empty. An unknown name is an error naming the known ones:
// functions-framework would silently serve some other function instead.
func Select(functionTarget string) ([]Target, error) {
	if functionTarget == "" {
		return Targets(), nil
	}
	t, ok := Lookup(functionTarget)
	if !ok {
		return nil, &UnknownTargetError{Name: functionTarget}
	}
	return []Target{t}, nil
}

// UnknownTargetError names a FUNCTION_TARGET that is not a devbot function.
type UnknownTargetError struct{ Name string }

func (e *UnknownTargetError) Error() string {
	return "FUNCTION_TARGET=" + e.Name + " is not a devbot function; known targets: " + strings.Join(Names(), ", ")
}

// Needs is the union of the targets' needs.
func Needs(targets []Target) []config.Group {
	var needs []config.Group
	for _, t := range targets {
		for _, g := range t.Needs {
			if !slices.Contains(needs, g) {
				needs = append(needs, g)
			}
		}
	}
	return needs
}
