// Package editblock reads and applies edits in Aider's SEARCH/REPLACE
// format, and unified diffs, to one file (Apply) or to a project tree
// (ApplySet: several files, new files, DELETE and RENAME lines, all or
// nothing, with a git-style diff).
//
// It accepts every form Aider accepts and applies blocks with Aider's
// cascade (exact; a uniform leading-white-space offset with the REPLACE
// text re-indented; a spurious leading blank line; "..." elision), but it
// does not share Aider's faults (see ../../../shared/facts/aider-edit-format.md):
// an edit applies whole or not at all; the file keeps its line endings and
// its final-newline state; content is kept byte for byte; a SEARCH text
// that matches in two places is refused; '=' lines inside content and
// unfinished blocks are told apart; a reply without blocks is an error
// that names the near misses.
//
// A refusal is an *Error whose text is written to go back to the model.
//
// Cost: an exact or re-indented block is found on the file's bytes
// (bytes.Index on line boundaries; from a file's second block on, line
// hashes); the line structures of the rest of the cascade are built only
// for a block that needs them (see doc.go).
package editblock

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/devbot-hq/devbot/internal/fault"
)

// Result is an edit that applied.
type Result struct {
	Content []byte        // the new content of the file
	Diff    string        // unified diff, a/PATH b/PATH; "" when nothing changed
	Blocks  []BlockReport // one per block (or hunk), in order
}

// BlockReport says how one block applied.
type BlockReport struct {
	Block     int    // 1-based position among the reply's blocks or the diff's hunks
	ReplyLine int    // line of the block in the reply
	Path      string // the file it edited
	Strategy  string // Strategy* constant
	Line      int    // 1-based first line it replaced, in the content as it was then
	Lines     int    // how many lines it replaced
}

// Apply applies the SEARCH/REPLACE blocks of a model's reply to content,
// the file at path. Every block must apply, or none does: the error is
// then an *Error (classified permanent) whose text is the report for the
// model. A reply without blocks is refused.
func Apply(path string, content []byte, response string) (Result, error) {
	return apply(path, content, newDoc(path, content), response, false)
}

// IsDirect reports whether an instruction already carries the edit: a
// SEARCH/REPLACE block or a unified-diff hunk.
func IsDirect(instruction string) bool {
	for _, l := range splitLines(instruction) {
		tr := strings.TrimSpace(l)
		if isHead(tr) || hunkHeader.MatchString(l) {
			return true
		}
	}
	return false
}

// HasBlocks reports whether text has a SEARCH marker line.
func HasBlocks(text string) bool {
	for _, l := range splitLines(text) {
		if isHead(strings.TrimSpace(l)) {
			return true
		}
	}
	return false
}

// HasDirectives reports whether text has a DELETE or RENAME line as
// ApplySet reads them; a malformed one counts, since it was meant as an
// edit.
func HasDirectives(text string) bool {
	for i, l := range splitLines(text) {
		if d, bad := directive(strings.TrimSpace(l), i+1, 1); d != nil || bad != nil {
			return true
		}
	}
	return false
}

// ApplyDirect applies an instruction that IsDirect: its SEARCH/REPLACE
// blocks (a block without a file name edits this file) or else its
// unified diff, whose hunks must match their context exactly.
func ApplyDirect(path string, content []byte, instruction string) (Result, error) {
	if HasBlocks(instruction) {
		return apply(path, content, newDoc(path, content), instruction, true)
	}
	return applyUnified(path, content, instruction)
}

// Resume applies a further reply to the content as the refused edit prev
// left it (with the blocks that did apply), so a model that fixes only the
// failed blocks, as it is told, completes the edit. The diff and the
// content of the result are relative to the original content.
func Resume(prev *Error, response string) (Result, error) {
	if prev.state == nil {
		// A change set's refusal: a change set applies whole, so the next
		// reply is applied to the tree again (ApplySet), not resumed.
		return Result{}, fault.AsPermanent(fmt.Errorf("%w: this refusal cannot be resumed: apply the corrected reply to the project again", fault.ErrInvalid))
	}
	return apply(prev.Path, prev.orig, prev.state.clone(), response, false)
}

var hunkHeader = regexp.MustCompile(`^@@ -\d+(,\d+)? \+\d+(,\d+)? @@`)

func apply(path string, orig []byte, t *doc, response string, impliedName bool) (Result, error) {
	blocks, near, bad := parse(response, path, impliedName)
	e := &Error{Path: path, orig: orig, state: t}
	switch {
	case bad != nil:
		e.Malformed = bad.String()
		if len(near) > 0 {
			e.Malformed += "\n" + strings.Join(near, "\n")
		}
	case len(blocks) == 0:
		e.NoBlocks, e.NearMisses = true, near
	}
	if bad != nil || len(blocks) == 0 {
		e.render()
		return Result{}, fault.AsPermanent(e)
	}
	work := t.clone()
	before := len(work.reps) // a resumed edit's earlier blocks are not this reply's
	for i := range blocks {
		if _, fail := work.apply(&blocks[i]); fail != nil {
			e.Failures = append(e.Failures, *fail)
		}
	}
	work.finish()
	reports := append([]BlockReport(nil), work.reps[before:]...)
	if len(e.Failures) > 0 {
		e.Applied, e.state = reports, work
		e.render()
		return Result{}, fault.AsPermanent(e)
	}
	content := work.bytes()
	return Result{Content: content, Diff: work.diff(content), Blocks: reports}, nil
}

// AsError returns the *Error in err's chain, or nil.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}
