package editor

import (
	"fmt"
	"strings"

	"github.com/devbot-hq/devbot/internal/editblock"
)

// systemPrompt carries the rules of the SEARCH/REPLACE format (Aider's
// "diff" format, which models are trained on), in our own words. It is
// kept as a golden file (testdata/prompt.golden): a change to it shows in
// review.
const systemPrompt = `You are an expert software developer. You edit one file at a user's request.
Follow the conventions of the code you are given: its style, naming, libraries and comments.

First explain the change in a sentence or two. Then give every change as a SEARCH/REPLACE block:

path/to/file.ext
` + "```" + `
<<<<<<< SEARCH
lines copied exactly from the file
=======
the lines that replace them
>>>>>>> REPLACE
` + "```" + `

Rules:
- Put the file's path alone on the line before the opening fence, exactly as it is given to you.
- The SEARCH section must match lines of the file character for character: white space, indentation, comments, docstrings and all.
- Each block replaces the one place its SEARCH section matches. A SEARCH section that matches in more than one place is refused, so keep blocks small but include enough lines to be unique.
- Blocks apply in order; a later block sees the file as the earlier blocks left it.
- To delete lines, leave the REPLACE section empty.
- To move code, use two blocks: one that deletes it where it is and one that inserts it where it goes.
- To add to the end of the file, or to fill an empty file, leave the SEARCH section empty.
- If the file contains lines of three backticks, fence your blocks with four.
- Only the file you are given can be changed. Do not give shell commands.
- If a reply of yours is refused, you will be told which blocks failed and why: answer with corrected blocks.`

// userPrompt shows the file, with its path, inside a fence its content
// cannot close, and the instruction.
func userPrompt(path string, content []byte, instruction string) string {
	fence := fenceFor(string(content))
	var b strings.Builder
	fmt.Fprintf(&b, "This is the file, between the fences:\n\n%s\n%s\n", path, fence)
	b.Write(content)
	if len(content) > 0 && content[len(content)-1] != '\n' {
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "%s\n\nThe change to make:\n%s", fence, strings.TrimSpace(instruction))
	return b.String()
}

// reflection is the next user turn after a refused reply. whole is a
// change set's refusal: nothing of it was applied, so every block is sent
// again, including those that matched.
func reflection(e *editblock.Error, whole bool) string {
	var b strings.Builder
	b.WriteString(e.Error())
	switch {
	case whole && (e.Malformed != "" || e.NoBlocks):
		b.WriteString("\n\nReply with the whole change as SEARCH/REPLACE blocks and DELETE/RENAME lines.")
	case whole:
		b.WriteString("\n\nNo file was changed. Reply with the whole change again: every block and line, the ones that matched as they were and the failed ones corrected.")
	case len(e.Applied) > 0:
		fmt.Fprintf(&b, "\n\nThe %d block(s) that matched are applied now: do not send them again. Reply with corrected versions of the failed blocks only.", len(e.Applied))
	case e.Malformed != "" || e.NoBlocks:
		b.WriteString("\n\nReply with the change as SEARCH/REPLACE blocks.")
	default:
		b.WriteString("\n\nReply with corrected SEARCH/REPLACE blocks.")
	}
	return b.String()
}

// fenceFor returns a fence of backticks longer than any run of backticks
// that starts a line of content.
func fenceFor(content string) string {
	n := 3
	for l := range strings.SplitSeq(content, "\n") {
		l = strings.TrimSpace(l)
		r := len(l) - len(strings.TrimLeft(l, "`"))
		if r >= n {
			n = r + 1
		}
	}
	return strings.Repeat("`", n)
}

// setSystemPrompt is editblock.SetPrompt with leave to ask instead of
// guessing: a change set touches a whole project, where a wrong guess costs
// more than one short question. Kept in testdata/set_prompt.golden.
const setSystemPrompt = editblock.SetPrompt + `

If the request is ambiguous and you cannot make a sensible change without knowing more, you may instead ask the user ONE short question: reply with a single line that starts with QUESTION: and give no blocks. Otherwise make the change; do not ask for permission or confirmation.`

// question returns the question a reply asks instead of editing, or "": a
// reply without any edit that has a QUESTION: line (the rest of the reply
// from it), or whose last line ends with '?' (the whole reply). Markdown
// emphasis around the prefix is allowed: models write **Question:**.
func question(reply string) string {
	if editblock.HasBlocks(reply) || editblock.HasDirectives(reply) {
		return ""
	}
	lines := strings.Split(reply, "\n")
	const prefix = "QUESTION:"
	for i, l := range lines {
		l = strings.TrimLeft(strings.TrimSpace(l), "*_")
		if len(l) >= len(prefix) && strings.EqualFold(l[:len(prefix)], prefix) {
			rest := strings.Join(append([]string{l[len(prefix):]}, lines[i+1:]...), "\n")
			return strings.TrimSpace(strings.TrimLeft(rest, "*_"))
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimRight(strings.TrimSpace(lines[i]), "*_"); l != "" {
			if strings.HasSuffix(l, "?") {
				return strings.TrimSpace(reply)
			}
			break
		}
	}
	return ""
}
