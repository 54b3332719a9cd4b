package projectmap

import (
	"bytes"
	"strconv"
	"strings"
)

const (
	filesHeader   = "\n# Files in full\n\nEach file's path is on the line before its fence.\n\n"
	omittedHeader = "\n# Files left out\n\nAsked for or relevant, but not shown in full:\n\n"
	// worstSummary is at least as long as any summary line the map ends
	// with; its estimate is reserved before anything else.
	worstSummary = "… and 9,999,999 more files in 9,999,999 directories, 9,999.9 GB\n" +
		"… outlines of 9,999,999 listed files left out\n"
)

// Render renders the context as the Markdown the editor model gets: the
// map, then each file in full (its path on the line before the fence, as
// Aider writes and reads them), then the files left out.
func (c *Context) Render() string {
	var b strings.Builder
	b.WriteString(mapHeader(c))
	for _, e := range c.Map {
		b.WriteString(renderEntry(e))
		b.WriteString(renderOutlineLines(e.Outline))
	}
	b.WriteString(c.summary())
	if len(c.Files) > 0 {
		b.WriteString(filesHeader)
		for _, f := range c.Files {
			b.WriteString(renderFile(f))
		}
	}
	if len(c.Omitted) > 0 {
		b.WriteString(omittedHeader)
		for _, o := range c.Omitted {
			b.WriteString(renderOmitted(o))
		}
	}
	return b.String()
}

func mapHeader(c *Context) string {
	return "# Project map\n\nThe project has " + plural(c.TotalFiles, "file", "files") + " (" + formatSize(c.TotalBytes) +
		"). Each line is a path and its size; the lines under a source file (│) outline its top-level definitions.\n\n"
}

func renderEntry(e MapEntry) string {
	s := e.Path + " (" + formatSize(e.Size)
	if e.InFull {
		s += ", in full below"
	}
	return s + ")\n"
}

func renderOutlineLines(o string) string {
	if o == "" {
		return ""
	}
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(o, "\n"), "\n") {
		b.WriteString("│")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

func (c *Context) summary() string {
	var s string
	if c.Left.Files > 0 {
		s = "… and " + formatInt(int64(c.Left.Files)) + " more " + word(c.Left.Files, "file", "files") +
			" in " + plural(c.Left.Dirs, "directory", "directories") + ", " + formatSize(c.Left.Bytes) + "\n"
	}
	if c.Left.Outlines > 0 {
		s += "… outlines of " + plural(c.Left.Outlines, "listed file", "listed files") + " left out\n"
	}
	return s
}

// renderFile writes a file as Aider does: the path, then a fence. The fence
// is longer than any backtick run that starts a line of the file, so the
// file's own fences (a README's) cannot close it early.
func renderFile(f File) string {
	fence := fenceFor(f.Content)
	var b strings.Builder
	b.Grow(len(f.Path) + len(f.Content) + 2*len(fence) + 8)
	b.WriteString(f.Path)
	b.WriteByte('\n')
	b.WriteString(fence)
	b.WriteByte('\n')
	b.Write(f.Content)
	if len(f.Content) > 0 && f.Content[len(f.Content)-1] != '\n' {
		b.WriteByte('\n')
	}
	b.WriteString(fence)
	b.WriteString("\n\n")
	return b.String()
}

func fenceFor(content []byte) string {
	longest := 0
	for rest := content; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		line = bytes.TrimLeft(line, " \t")
		n := 0
		for n < len(line) && line[n] == '`' {
			n++
		}
		longest = max(longest, n)
	}
	return strings.Repeat("`", max(3, longest+1))
}

func renderOmitted(o Omitted) string {
	s := "- " + o.Path
	if o.Why != "not in the project" {
		s += " (" + formatSize(o.Size) + ")"
	}
	return s + ", " + string(o.Reason) + ": " + o.Why + "\n"
}

func plural(n int, one, many string) string {
	return formatInt(int64(n)) + " " + word(n, one, many)
}

func word(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// formatInt writes n with thousands separators: 1,240.
func formatInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// formatSize writes a byte count for people: 812 B, 1.2 KB, 14 MB (units of
// 1024; one decimal below 10).
func formatSize(n int64) string {
	if n < 1024 {
		return formatInt(n) + " B"
	}
	units := []string{"KB", "MB", "GB"}
	v := float64(n) / 1024
	u := 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[u]
	}
	return formatInt(int64(v+0.5)) + " " + units[u]
}
