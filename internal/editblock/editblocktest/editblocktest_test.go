package editblocktest

import "testing"

func TestSections(t *testing.T) {
	got, err := Sections([]byte("comment\n-- file crlf noeol --\na\nb\n-- response --\nx\n-- --\ny\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got["file"] != "a\r\nb" || got["response"] != "x\n-- --\ny\n" || len(got) != 2 {
		t.Errorf("sections = %q", got)
	}
	if _, err := Sections([]byte("-- a --\n1\n-- a --\n2\n")); err == nil {
		t.Error("a section named twice was accepted")
	}
}
