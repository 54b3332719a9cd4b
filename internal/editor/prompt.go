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

// reflection is the next user turn after a refused reply.
func reflection(e *editblock.Error) string {
	var b strings.Builder
	b.WriteString(e.Error())
	switch {
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
