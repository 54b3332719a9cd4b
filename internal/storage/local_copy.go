package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	"github.com/devbot-hq/devbot/internal/fault"
)

// copier is a Backend that can make one key a copy of another without the
// bytes passing through the caller. Files uses it to publish a plain copy
// from the blob that already holds its bytes.
type copier interface {
	Copy(ctx context.Context, bucket, src, dst string, opts PutOptions) error
}

// Copy makes dst hold src's bytes, with opts' content type, as a Put of
// those bytes would (atomic replace with Upsert, a conflict without it). A
// missing src or bucket wraps fault.ErrNotFound.
//
// dst becomes another name of src's file (a hard link): no bytes are written
// and nothing needs syncing, since src's bytes are on disk already. That is
// safe because Local never changes a file once placed, it only replaces
// names: a later Put or Copy to dst, or a Delete of it, leaves src as it
// was. When the content types differ the file cannot be shared (the type is
// part of it), and the bytes are written anew.
func (l *Local) Copy(ctx context.Context, bucket, src, dst string, opts PutOptions) (err error) {
	defer fault.Wrap(&err, "Copy(%s, %q, %q)", bucket, src, dst)
	if err := validateKeys(bucket, src, dst); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ct := contentTypeOr(opts.ContentType)
	// Link first, then inspect the link: unlike src's name, it cannot be
	// replaced meanwhile, so what is checked is what is placed.
	tmp := tmpName()
	if err := l.root.Link(objectPath(bucket, src), tmp); err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EPERM) {
			return l.missing(bucket) // EPERM: src is a folder
		}
		return err
	}
	defer l.root.Remove(tmp) //nolint:errcheck // gone after a rename; best effort otherwise
	if fi, err := l.root.Lstat(tmp); err != nil {
		return err
	} else if !fi.Mode().IsRegular() {
		return l.missing(bucket)
	}
	f, err := l.root.Open(tmp)
	if err != nil {
		return err
	}
	got, typed := fileType(f)
	if typed && got == ct {
		f.Close()
		return l.place(bucket, dst, tmp, ct, true, opts.Upsert)
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() > MaxObjectBytes {
		err = tooLarge("the object", fi.Size(), MaxObjectBytes)
	}
	var data []byte
	if err == nil {
		data = make([]byte, fi.Size())
		_, err = readFull(f, data)
	}
	f.Close()
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	own, typed, err := l.writeTemp(data, ct)
	if err != nil {
		return err
	}
	defer l.root.Remove(own) //nolint:errcheck // as tmp
	return l.place(bucket, dst, own, ct, typed, opts.Upsert)
}
