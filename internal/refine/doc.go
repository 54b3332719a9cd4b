// Package refine runs refinement jobs (the RefineJobs consumer): claim the
// job, read the file's current version, run the editor, store the new
// version with the optimistic check (no lost update), charge the credits,
// record the outcome and tell the user — each step safe to repeat when a
// message is delivered again.
//
// The job's state machine lives in the database (see internal/db/jobs.go):
//
//	queued ──▶ running ──▶ succeeded
//	  │          │ ▲  └──▶ failed | rejected   (credits released)
//	  │          └─┘ (redelivery after a crash)
//	  └──▶ failed (gave up before it ran)
//
// A running job is owned through a short lease renewed by a heartbeat and
// fenced by the attempt number (lease.go); the reply is claimed, sent and
// then recorded (Runner.Reply), so a dropped connection after the send does
// not send it twice. internal/sweep finds what redelivery cannot finish.
package refine
