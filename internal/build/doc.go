// Package build turns a description into a project: the architect model
// asks a few questions and proposes a spec (a title, a summary, a stack
// and a task list), the user starts, changes or cancels it, and then the
// tasks run one at a time, each as change sets made by the editor model,
// checked (every changed file parses, internal/langcheck) and reviewed by
// the architect against the task's done-when, with bounded rounds of
// rework; then a README is written and the project arrives as a zip.
//
// # Steps
//
// A build is a row with a state machine and a step counter (migration
// 00058). Every step is one message on the build-steps topic, handled by
// Runner.Handle (the BuildSteps function): it claims the build's lease at
// that step (a message for another step is stale and acknowledged), does
// the step's one piece of model work, and commits in one transaction what
// the step decided: the change set, the task's round, the charge, the next
// state and step, and the messages to send (an outbox). Only then are the
// messages sent and the next step published. A crash anywhere resumes from
// the last committed step: a redelivery, or the sweeper for a step whose
// message was lost, runs it again; nothing committed is done twice.
//
// # Messages
//
// Everything the build says goes through its outbox (build_outbox): a row
// is claimed, sent, and recorded as sent, so a duplicate delivery or a
// second instance does not send it again. The progress message is sent
// once and then edited in place; edits that a newer one supersedes are
// skipped, so a burst of steps costs one Bot API call.
//
// # Credits
//
// Start holds the spec's estimate. Each task is charged what its model
// calls cost (the base price per task plus the calls' cost in credits),
// from the hold first and then from the free balance. Before each round the
// build checks that a round's worst case is covered; when it is not, the
// build pauses with a /buy button and resumes where it stopped. What is left
// of the hold is released when the build ends.
package build
