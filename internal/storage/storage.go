package storage

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/devbot-hq/devbot/internal/fault"
)

// Object is a stored object's bytes and metadata.
type Object struct {
	Data         []byte
	ContentType  string
	Size         int64
	ETag         string
	LastModified time.Time
}

// ObjectInfo describes one entry of a folder listing.
type ObjectInfo struct {
	// Name is the entry's full key in the bucket ("dir/a.txt"), or a
	// sub-folder's path ("dir/sub") when Folder is set.
	Name        string
	Size        int64
	ContentType string
	UpdatedAt   time.Time
	Folder      bool
}

// PutOptions are sent explicitly with every upload.
type PutOptions struct {
	// ContentType is stored with the object; empty means
	// application/octet-stream (never storage-go's application/json).
	ContentType string
	// Upsert allows replacing an existing object; without it an existing
	// object is a conflict (fault.ErrConflict).
	Upsert bool
}

// Backend is what Files needs from an object store. *Supabase and *Local
// implement it with the same semantics:
//   - Get of a missing object or bucket wraps fault.ErrNotFound;
//   - Put to a missing bucket wraps fault.ErrNotFound, and of an existing key
//     without Upsert wraps fault.ErrConflict;
//   - Delete removes exact keys; missing keys and buckets are skipped;
//   - List lists one folder level ("" is the bucket's root), sorted bytewise
//     by name; a missing bucket or folder, or a partial name, is an empty
//     list;
//   - EnsureBucket creates a private bucket unless it exists.
//
// Invalid buckets and keys are refused (fault.ErrInvalid) before anything is
// sent.
type Backend interface {
	Get(ctx context.Context, bucket, key string) (Object, error)
	Put(ctx context.Context, bucket, key string, data []byte, opts PutOptions) error
	Delete(ctx context.Context, bucket string, keys ...string) error
	List(ctx context.Context, bucket, prefix string) ([]ObjectInfo, error)
	EnsureBucket(ctx context.Context, bucket string) error
}

const (
	// DefaultMaxBytes is the default per-file limit of Files (MAX_FILE_BYTES).
	DefaultMaxBytes = 1 << 20
	// MaxObjectBytes bounds what an adapter reads or writes at all, whatever
	// Files' limit: a download larger than this is refused rather than
	// buffered.
	MaxObjectBytes = 64 << 20

	defaultContentType = "application/octet-stream"
)

// tooLarge is the user-facing refusal of n bytes over limit.
func tooLarge(what string, n, limit int64) error {
	return fault.AsPermanent(fmt.Errorf("%w: %s is %s; the limit is %s",
		fault.ErrTooLarge, what, FormatBytes(n), FormatBytes(limit)))
}

// FormatBytes renders n for people: "512 bytes", "1.5 KiB", "10 MiB".
func FormatBytes(n int64) string {
	const kib, mib = 1 << 10, 1 << 20
	f := func(v float64, unit string) string {
		s := strconv.FormatFloat(v, 'f', 1, 64)
		return strings.TrimSuffix(s, ".0") + " " + unit
	}
	switch {
	case n < kib:
		if n == 1 {
			return "1 byte"
		}
		return strconv.FormatInt(n, 10) + " bytes"
	case n < mib:
		return f(float64(n)/kib, "KiB")
	default:
		return f(float64(n)/mib, "MiB")
	}
}

func contentTypeOr(ct string) string {
	if ct == "" {
		return defaultContentType
	}
	return ct
}
