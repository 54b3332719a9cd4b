package devstack

import (
	"fmt"
	"html"
	"regexp"
	"strings"
	"time"
)

var tags = regexp.MustCompile(`</?[a-zA-Z][^>]*>`)

// plain turns a reply's HTML into what a person reads in the chat.
func plain(s string) string { return html.UnescapeString(tags.ReplaceAllString(s, "")) }

// printReplies prints every message the bot sends, as a chat would show it.
func (s *Stack) printReplies() {
	seen := 0
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-tick.C:
		}
		for _, m := range s.sent(seen) {
			seen = m.Seq
			fmt.Fprintln(s.console, FormatReply(m))
		}
	}
}

// FormatReply renders one reply for the console.
func FormatReply(m Sent) string {
	var b strings.Builder
	fmt.Fprintf(&b, "bot → chat %d:", m.ChatID)
	if m.Method == "sendDocument" {
		fmt.Fprintf(&b, " [document %s, %d bytes]", m.DocumentName, len(m.Document))
	}
	if m.Method == "editMessageText" {
		b.WriteString(" (an earlier message, edited in place)")
	}
	for _, line := range strings.Split(plain(m.Text), "\n") {
		b.WriteString("\n    " + line)
	}
	if m.ReplyMarkup != "" {
		for _, btn := range buttonTexts(m.ReplyMarkup) {
			b.WriteString(" [" + btn + "]")
		}
	}
	return b.String()
}

var buttonText = regexp.MustCompile(`"text"\s*:\s*"([^"]*)"`)

func buttonTexts(markup string) []string {
	var out []string
	for _, m := range buttonText.FindAllStringSubmatch(markup, -1) {
		out = append(out, m[1])
	}
	return out
}
