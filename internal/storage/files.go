package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/devbot-hq/devbot/internal/fault"
)

// Files stores project files with their history on a Backend: immutable,
// content-addressed blobs (one per distinct content) plus a current copy at
// the plain path. Postgres maps path and version to a blob key; see the
// package comment for the order of writes. Files is safe for concurrent use
// when its Backend is.
type Files struct {
	b   Backend
	max int64
}

// NewFiles returns Files on b that refuses files over maxBytes (0 or less
// means DefaultMaxBytes).
func NewFiles(b Backend, maxBytes int64) *Files {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	return &Files{b: b, max: maxBytes}
}

// MaxBytes is the per-file limit.
func (f *Files) MaxBytes() int64 { return f.max }

// CheckSize refuses a file of n bytes over the limit, with a message for the
// user. Callers may check a size they know (a Telegram document's) before
// downloading anything.
func (f *Files) CheckSize(n int64) error {
	if n > f.max {
		return tooLarge("the file", n, f.max)
	}
	return nil
}

// BlobKey is the key of the blob holding content whose SHA-256 is sha256hex.
func BlobKey(sha256hex string) string { return BlobPrefix + sha256hex }

// IsBlobKey reports whether key names a blob.
func IsBlobKey(key string) bool {
	h, ok := strings.CutPrefix(key, BlobPrefix)
	return ok && isSHA256Hex(h)
}

func isSHA256Hex(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// EnsureBucket creates the project's bucket unless it exists.
func (f *Files) EnsureBucket(ctx context.Context, bucket string) error {
	return f.b.EnsureBucket(ctx, bucket)
}

// PutBlob stores data as an immutable blob and returns its key and SHA-256
// (hex), for db.CommitVersion. It is idempotent: the same content is the
// same blob, so a retried or concurrent write of it succeeds without
// rewriting it. Nothing is visible at any user path until the version is
// committed and published.
func (f *Files) PutBlob(ctx context.Context, bucket string, data []byte, contentType string) (blobKey, sha256hex string, err error) {
	defer fault.Wrap(&err, "storage: PutBlob(%s)", bucket)
	if err := f.CheckSize(int64(len(data))); err != nil {
		return "", "", err
	}
	sum := sha256.Sum256(data)
	sha256hex = hex.EncodeToString(sum[:])
	blobKey = BlobKey(sha256hex)
	err = f.b.Put(ctx, bucket, blobKey, data, PutOptions{ContentType: contentType, Upsert: false})
	if errors.Is(err, fault.ErrConflict) {
		// Already stored: blobs are written whole (atomically) and never
		// changed, so an existing blob holds exactly these bytes.
		err = nil
	}
	if err != nil {
		return "", "", err
	}
	return blobKey, sha256hex, nil
}

// GetBlob reads a blob and checks its content against the SHA-256 in its
// key, so corruption is reported rather than served.
func (f *Files) GetBlob(ctx context.Context, bucket, blobKey string) (_ []byte, err error) {
	defer fault.Wrap(&err, "storage: GetBlob(%s, %s)", bucket, blobKey)
	if !IsBlobKey(blobKey) {
		return nil, fault.AsPermanent(fmt.Errorf("%w: %q is not a blob key", fault.ErrInvalid, blobKey))
	}
	obj, err := f.b.Get(ctx, bucket, blobKey)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(obj.Data)
	if hex.EncodeToString(sum[:]) != strings.TrimPrefix(blobKey, BlobPrefix) {
		return nil, fault.AsPermanent(fmt.Errorf("the stored content does not match its SHA-256 (%d bytes): corrupted", len(obj.Data)))
	}
	return obj.Data, nil
}

// PublishCurrent writes data at the plain path, replacing what is there, so
// the bucket shows the project's current files. Call it after the version is
// committed; the plain copy is a view, and the blob stays the record. A
// Backend that can copy (Local) makes it a copy of the blob of data, which
// the version's commit implies exists, instead of writing the bytes again.
func (f *Files) PublishCurrent(ctx context.Context, bucket, path string, data []byte, contentType string) (err error) {
	defer fault.Wrap(&err, "storage: PublishCurrent(%s, %q)", bucket, path)
	if err := ValidatePath(path); err != nil {
		return err
	}
	if err := f.CheckSize(int64(len(data))); err != nil {
		return err
	}
	opts := PutOptions{ContentType: contentType, Upsert: true}
	if c, ok := f.b.(copier); ok {
		sum := sha256.Sum256(data)
		err := c.Copy(ctx, bucket, BlobKey(hex.EncodeToString(sum[:])), path, opts)
		if !errors.Is(err, fault.ErrNotFound) {
			return err
		}
		// No blob of these bytes: write them (a missing bucket is
		// reported by Put).
	}
	return f.b.Put(ctx, bucket, path, data, opts)
}

// Unpublish removes the plain copy of path (a deleted file). Its blobs, and
// so its history, stay.
func (f *Files) Unpublish(ctx context.Context, bucket, path string) (err error) {
	defer fault.Wrap(&err, "storage: Unpublish(%s, %q)", bucket, path)
	if err := ValidatePath(path); err != nil {
		return err
	}
	return f.b.Delete(ctx, bucket, path)
}
