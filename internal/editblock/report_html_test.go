package editblock_test

import (
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/editblock"
)

// The report as a person reads it: Telegram HTML, escaped, no Markdown,
// worded for whoever wrote the blocks; the model's version is unchanged.
func TestReportHTML(t *testing.T) {
	t.Parallel()
	content := []byte("func main() {\n\tif a < b {\n\t\treturn\n\t}\n}\n")
	reply := "main.go\n```\n<<<<<<< SEARCH\n\tif a <= b {\n\t\treturn\n=======\n\tif a > b {\n\t\treturn\n>>>>>>> REPLACE\n```\n"
	_, err := editblock.Apply("main.go", content, reply)
	be := editblock.AsError(err)
	if be == nil {
		t.Fatalf("not refused: %v", err)
	}
	for _, tt := range []struct {
		author     editblock.Author
		want, lack []string
	}{
		{editblock.ByUser, []string{"<b>Block 1 of 1</b> (line 3 of your message): the SEARCH text is not in main.go.",
			"Your SEARCH text:\n<pre>\tif a &lt;= b {\n\t\treturn</pre>",
			"Did you mean these lines of main.go (from line 2)?\n<pre>\tif a &lt; b {\n\t\treturn</pre>"}, []string{"model"}},
		{editblock.ByModel, []string{"(line 3 of the model's reply)", "Its SEARCH text:"}, []string{"your message"}},
	} {
		got := be.HTML(tt.author, 3000)
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("author %d: %q lacks %q", tt.author, got, w)
			}
		}
		for _, w := range append(tt.lack, "##", "```", "<<<<<<<") {
			if strings.Contains(got, w) {
				t.Errorf("author %d: %q shows %q", tt.author, got, w)
			}
		}
	}
	if !strings.Contains(be.Error(), "## Block 1 (line 3 of the reply)") {
		t.Errorf("the model's report changed: %q", be.Error())
	}
	if r := be.Reasons(editblock.ByUser); len(r) != 1 || r[0] != "block 1 (line 3 of your message): the SEARCH text is not in main.go" {
		t.Errorf("reasons = %q", r)
	}
}

// An unreadable message, and many failed blocks, stay within the budget.
func TestReportHTMLMalformedAndLong(t *testing.T) {
	t.Parallel()
	_, err := editblock.ApplyDirect("a.txt", []byte("x\n"), "<<<<<<< SEARCH\nx\n>>>>>>> REPLACE\n")
	be := editblock.AsError(err)
	if be == nil {
		t.Fatal("not refused")
	}
	got := be.HTML(editblock.ByUser, 3000)
	if !strings.HasPrefix(got, "Your message could not be read as SEARCH/REPLACE blocks: line 1 of your message") ||
		!strings.Contains(got, "<pre>path/to/file\n&lt;&lt;&lt;&lt;&lt;&lt;&lt; SEARCH") {
		t.Errorf("malformed: %q", got)
	}
	var b strings.Builder
	var content strings.Builder
	for i := range 30 {
		content.WriteString("line\n")
		b.WriteString("a.txt\n<<<<<<< SEARCH\n" + strings.Repeat("missing line with some width\n", 20) + "=======\nz\n>>>>>>> REPLACE\n")
		_ = i
	}
	_, err = editblock.ApplyDirect("a.txt", []byte(content.String()), b.String())
	if be = editblock.AsError(err); be == nil {
		t.Fatal("not refused")
	}
	got = be.HTML(editblock.ByUser, 3000)
	if len(got) > 3500 || !strings.Contains(got, "… and 27 more blocks that did not apply.") || !strings.Contains(got, "… (8 more lines)") {
		t.Errorf("long report (%d bytes): %q", len(got), got)
	}
}
