package bot

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/fault"
	"github.com/devbot-hq/devbot/internal/reply"
	"github.com/devbot-hq/devbot/internal/textfile"
)

// prepared is work done before the update's transaction: network calls
// that must not hold a database transaction open.
type prepared struct {
	upload *upload
	buy    *reply.Reply
}

// upload is a received document, checked and stored as a blob.
type upload struct {
	projectID string
	path      string
	blobKey   string
	sha256    string
	size      int64
}

const textContentType = "text/plain; charset=utf-8"

func (b *Bot) prepare(ctx context.Context, u db.User, req Request) (prepared, error) {
	switch {
	case isUpload(req):
		up, err := b.receive(ctx, u, req)
		return prepared{upload: up}, err
	case isPurchase(req):
		if b.Billing == nil {
			return prepared{}, nil
		}
		arg := strings.TrimPrefix(req.CallbackData, "buy:")
		if req.CallbackID == "" {
			arg = req.Args
		}
		var pack int
		if err := b.readPack(req, arg, &pack); err != nil {
			return prepared{}, err
		}
		r, err := b.Billing.Buy(ctx, u.ID, req.ChatID, req.UpdateID, pack)
		if err != nil {
			return prepared{}, err
		}
		return prepared{buy: &r}, nil
	}
	return prepared{}, nil
}

// receive downloads a document into the selected project: the path from
// the caption or the file's name, text only, size-limited before and after
// the download.
func (b *Bot) receive(ctx context.Context, u db.User, req Request) (*upload, error) {
	p, err := currentProject(ctx, b.DB.Pool, u)
	if err != nil {
		return nil, refuse("Create or select a project first (/new NAME or /use NAME), then send the file again.")
	}
	name := req.Caption
	if name == "" {
		name = req.Document.FileName
	} else if strings.HasSuffix(name, "/") && req.Document.FileName != "" {
		name = path.Join(name, req.Document.FileName)
	}
	if name == "" {
		return nil, refuse("This file has no name: send it again with its path as the caption, e.g. src/main.go.")
	}
	if err := b.ValidatePath(name); err != nil {
		return nil, refuse("%s cannot be a path: %s. Send it again with another caption.", name, err.Error())
	}
	max := b.cfg.MaxFileBytes
	if req.Document.FileSize > max {
		return nil, refuse("%s is %s; files up to %s are accepted.", name, reply.Size(req.Document.FileSize), reply.Size(max))
	}
	if err := b.roomFor(ctx, p, name, req.Document.FileSize); err != nil {
		return nil, err
	}
	f, err := b.Telegram.GetFile(ctx, req.Document.FileID)
	if err != nil {
		return nil, err
	}
	data, err := b.Telegram.Download(ctx, f.FilePath, max)
	if errors.Is(err, fault.ErrTooLarge) {
		return nil, refuse("%s is larger than %s, the most accepted.", name, reply.Size(max))
	}
	if err != nil {
		return nil, err
	}
	if !textfile.Is(data) {
		return nil, refuse("%s is not a text file ("+textfile.Rule+"): I only keep source and text files.", name)
	}
	key, sum, err := b.Files.PutBlob(ctx, p.ID, data, textContentType)
	if err != nil {
		return nil, err
	}
	return &upload{projectID: p.ID, path: name, blobKey: key, sha256: sum, size: int64(len(data))}, nil
}

// roomFor refuses, before anything is downloaded, a document that would take
// the project over its limits (the commit checks again, under a lock, with
// the size actually received).
func (b *Bot) roomFor(ctx context.Context, p db.Project, path string, size int64) error {
	if b.limits() == (db.ProjectLimits{}) {
		return nil
	}
	use, err := db.GetProjectUsage(ctx, b.DB.Pool, p.ID)
	if err != nil {
		return err
	}
	f, err := db.FileByPath(ctx, b.DB.Pool, p.ID, path)
	if err != nil && !errors.Is(err, fault.ErrNotFound) {
		return err
	}
	if e := db.AsProjectFull(db.CheckProjectLimits(use, b.limits(), err == nil, f.Size, size)); e != nil {
		return projectFull(p, path, e)
	}
	return nil
}

func (b *Bot) upload(ctx context.Context, tx pgx.Tx, u db.User, req Request, prep prepared) (Plan, error) {
	up := prep.upload
	p, err := db.ProjectByID(ctx, tx, u.ID, up.projectID)
	if err != nil {
		return Plan{}, err
	}
	v, err := db.CommitVersion(ctx, tx, db.NewVersion{ProjectID: p.ID, Path: up.path, SHA256: up.sha256, Size: up.size,
		BlobKey: up.blobKey, ContentType: textContentType, Source: db.SourceUpload, Limits: b.limits()})
	if e := db.AsProjectFull(err); e != nil {
		return Plan{}, projectFull(p, up.path, e)
	}
	if err != nil {
		return Plan{}, err
	}
	verb := "Added"
	if v > 1 {
		verb = "Updated"
	}
	pl := done(reply.Text("%s %s (%s, version %d). /open %s to work on it.", verb, up.path, reply.Size(up.size), v, up.path))
	pl.Current = &FileRef{ProjectID: p.ID, Path: up.path, Version: v}
	return pl, nil
}

func (b *Bot) get(ctx context.Context, tx pgx.Tx, u db.User, req Request, _ prepared) (Plan, error) {
	p, f, err := namedFile(ctx, tx, u, req)
	if err != nil {
		return Plan{}, err
	}
	pl := done()
	pl.Docs = []DocRef{{Kind: "file", File: FileRef{ProjectID: p.ID, Path: f.Path, Version: f.Version},
		Name: path.Base(f.Path), Caption: reply.HTMLf("%s, version %d", f.Path, f.Version)}}
	return pl, nil
}

func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return t.UTC().Format("2 Jan 2006")
}
