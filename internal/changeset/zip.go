package changeset

import (
	"archive/zip"
	"context"
	"io"

	"github.com/devbot-hq/devbot/internal/db"
)

// BlobReader reads stored file versions.
type BlobReader interface {
	GetBlob(ctx context.Context, bucket, blobKey string) ([]byte, error)
}

// Zip returns the writer of a project's zip (/export, a build's delivery):
// every file at its current version, read from storage one at a time and
// written deflated to w, so memory stays at about one file.
func Zip(ctx context.Context, q db.Querier, blobs BlobReader, projectID string) func(w io.Writer) error {
	return func(w io.Writer) error {
		files, err := db.ListFiles(ctx, q, projectID)
		if err != nil {
			return err
		}
		zw := zip.NewWriter(w)
		for _, f := range files {
			v, err := db.GetFileVersion(ctx, q, projectID, f.Path, f.Version)
			if err != nil {
				return err
			}
			data, err := blobs.GetBlob(ctx, projectID, v.BlobKey)
			if err != nil {
				return err
			}
			fw, err := zw.CreateHeader(&zip.FileHeader{Name: f.Path, Method: zip.Deflate, Modified: f.UpdatedAt})
			if err != nil {
				return err
			}
			if _, err := fw.Write(data); err != nil {
				return err
			}
		}
		return zw.Close()
	}
}
