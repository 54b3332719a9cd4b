package bot

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/reply"
)

// MaxDocumentBytes is what Telegram accepts in a sendDocument upload
// (50 MB); a zip that could be larger is refused before it is built.
const MaxDocumentBytes = 50 * 1000 * 1000

// export sends the selected project as a zip. The zip is streamed into the
// upload as it is written, one file read from storage at a time, so memory
// stays at about one file whatever the project's size; a project over the
// limits (lowered since its files were written) or whose zip could exceed
// Telegram's limit is refused instead.
func (b *Bot) export(ctx context.Context, tx pgx.Tx, u db.User, req Request, _ prepared) (Plan, error) {
	p, err := currentProject(ctx, tx, u)
	if err != nil {
		return Plan{}, err
	}
	fs, err := db.ListFiles(ctx, tx, p.ID)
	if err != nil {
		return Plan{}, err
	}
	if len(fs) == 0 {
		return Plan{}, refuse("%s has no files to export yet.", p.Name)
	}
	var total int64
	for _, f := range fs {
		total += f.Size
	}
	l := b.limits()
	switch {
	case l.MaxFiles > 0 && len(fs) > l.MaxFiles:
		return Plan{}, refuse("%s has %d files, more than the %d an export may hold, so I cannot zip it. /get PATH sends one file at a time.",
			p.Name, len(fs), l.MaxFiles)
	case l.MaxBytes > 0 && total > l.MaxBytes, zipBound(fs) > MaxDocumentBytes:
		limit := int64(MaxDocumentBytes)
		if l.MaxBytes > 0 {
			limit = min(limit, l.MaxBytes)
		}
		return Plan{}, refuse("%s holds %s, more than the %s an export may hold (Telegram takes documents up to 50 MB), so I cannot zip it. "+
			"/get PATH sends one file at a time.", p.Name, reply.Size(total), reply.Size(limit))
	}
	pl := done()
	pl.Docs = []DocRef{{Kind: "export", File: FileRef{ProjectID: p.ID}, Name: p.Name + ".zip",
		Caption: reply.HTMLf("%s: %s", p.Name, plural(len(fs), "file"))}}
	return pl, nil
}

// zipBound is the most bytes a zip of fs can take: stored or deflated
// (deflate's worst case adds 5 bytes per 16 KiB block), with a local header
// and data descriptor, a central-directory entry, and the end record.
func zipBound(fs []db.File) int64 {
	n := int64(22)
	for _, f := range fs {
		n += f.Size + 5*(f.Size/16384+1) + 30 + 24 + 46 + 2*int64(len(f.Path)) + 64
	}
	return n
}
