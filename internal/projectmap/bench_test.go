package projectmap_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/devbot-hq/devbot/internal/db"
	"github.com/devbot-hq/devbot/internal/dbtest"
	"github.com/devbot-hq/devbot/internal/projectmap"
)

var benchRequest = projectmap.Request{
	Instruction: "make file0400.go use helper_1001 from pkg/mod007/file0141.py",
	Pinned:      []string{"pkg/mod001/notes0022.md"},
}

var benchHits = fixedSearch{{Path: "pkg/mod050/file1001.py", Rank: 2}, {Path: "pkg/mod099/file1980.go", Rank: 1}}

// BenchmarkBuild2000 builds the context of a 2,000-file project with its
// outlines at hand (as db.FileOutlines gives them): the production path.
func BenchmarkBuild2000(b *testing.B) {
	ctx := context.Background()
	files, list := bigProject(2000)
	outlines, err := projectmap.ComputeOutlines(ctx, files, list, 1<<20)
	if err != nil {
		b.Fatal(err)
	}
	req := benchRequest
	req.Files, req.Outlines = list, outlines
	bl := &projectmap.Builder{Reader: files, Search: benchHits, Options: projectmap.Options{TokenBudget: 16000}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bl.Build(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuild2000Cold also computes every file's outline from its bytes
// (a tree without an index: devbot edit --dir).
func BenchmarkBuild2000Cold(b *testing.B) {
	ctx := context.Background()
	files, list := bigProject(2000)
	req := benchRequest
	req.Files = list
	bl := &projectmap.Builder{Reader: files, Search: benchHits, Options: projectmap.Options{TokenBudget: 16000}}
	b.ReportAllocs()
	for b.Loop() {
		outlines, err := projectmap.ComputeOutlines(ctx, files, list, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		req.Outlines = outlines
		if _, err := bl.Build(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSearch2000 ranks a 2,000-file project's documents in Postgres.
func BenchmarkSearch2000(b *testing.B) {
	ctx := context.Background()
	d := dbtest.New(b)
	u, _, err := db.EnsureUser(ctx, d.Pool, db.TelegramUser{TelegramID: 1, ChatID: 1}, 0)
	if err != nil {
		b.Fatal(err)
	}
	p, err := db.CreateProject(ctx, d.Pool, u.ID, "bench")
	if err != nil {
		b.Fatal(err)
	}
	files, list := bigProject(2000)
	err = d.InTx(ctx, func(tx pgx.Tx) error {
		for _, f := range list {
			sum := "0000000000000000000000000000000000000000000000000000000000000000"
			if _, err := db.CommitVersion(ctx, tx, db.NewVersion{ProjectID: p.ID, Path: f.Path, SHA256: sum, Size: f.Size,
				BlobKey: "blobs/" + sum, Source: db.SourceUpload}); err != nil {
				return err
			}
			if err := projectmap.IndexFile(ctx, tx, p.ID, f.Path, 1, files[f.Path]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := d.Pool.Exec(ctx, "ANALYZE file_search_docs"); err != nil {
		b.Fatal(err)
	}
	ix := projectmap.Index{Q: d.Pool, ProjectID: p.ID}
	terms := projectmap.QueryTerms("add a save method to Model1001 and call helper_1001 from the notes")
	b.ResetTimer()
	for b.Loop() {
		hits, err := ix.Search(ctx, terms, 10)
		if err != nil || len(hits) == 0 || hits[0].Path != "pkg/mod050/file1001.py" {
			b.Fatalf("hits %v, err %v", hits, err)
		}
	}
}

// BenchmarkDocument builds one file's search document (per version write).
func BenchmarkDocument(b *testing.B) {
	files, _ := bigProject(4)
	src := files["pkg/mod000/file0000.go"]
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		projectmap.Document("pkg/mod000/file0000.go", src)
	}
}
