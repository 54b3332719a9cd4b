package telegram_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/telegram"
	"github.com/devbot-hq/devbot/internal/telegram/telegramtest"
)

// A document produced by Write is streamed into the upload; its error, not
// the transport's, is what the call returns.
func TestSendDocumentStreams(t *testing.T) {
	t.Parallel()
	tg := telegramtest.New(t)
	c := telegram.New(tg.URL, tg.Token, tg.Client())
	content := strings.Repeat("0123456789", 100000)
	_, err := c.SendDocument(context.Background(), telegram.SendDocument{ChatID: 7, FileName: "p.zip", Caption: "p: 1 file",
		Write: func(w io.Writer) error {
			for i := 0; i < len(content); i += 4096 {
				if _, err := io.WriteString(w, content[i:min(i+4096, len(content))]); err != nil {
					return err
				}
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	docs := tg.Calls("sendDocument")
	if len(docs) != 1 || string(docs[0].Document) != content || docs[0].DocumentName != "p.zip" || docs[0].Text() != "p: 1 file" {
		t.Fatalf("uploaded %d documents", len(docs))
	}
	broken := fault.Permanentf("storage: %w", fault.ErrNotFound)
	_, err = c.SendDocument(context.Background(), telegram.SendDocument{ChatID: 7, FileName: "p.zip",
		Write: func(w io.Writer) error { _, _ = io.WriteString(w, "partial"); return broken }})
	if !errors.Is(err, fault.ErrNotFound) || !fault.IsPermanent(err) {
		t.Errorf("a failing Write: %v", err)
	}
	if n := len(tg.Calls("sendDocument")); n != 1 {
		t.Errorf("a broken upload was accepted (%d documents)", n)
	}
}
