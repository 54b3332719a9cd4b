package storage_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/storage"
	"github.com/devbot-hq/devbot/internal/storage/storagetest"
)

// BenchmarkLocalPut is what a refinement of one 4 KiB file costs Local
// through Files: a new blob, and the plain copy of a blob published over
// the previous one (both in folders that exist); and reading a blob back.
func BenchmarkLocalPut(b *testing.B) {
	l := newLocal(b)
	files := storage.NewFiles(l, 0)
	ctx := context.Background()
	bucket := storagetest.NewBucket(b, l)
	const ct = "text/plain; charset=utf-8"
	var seq atomic.Uint64 // b.Run may run a sub-benchmark more than once
	content := func() []byte {
		data := make([]byte, 4<<10)
		binary.LittleEndian.PutUint64(data, seq.Add(1))
		return data
	}
	b.Run("blob", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			if _, _, err := files.PutBlob(ctx, bucket, content(), ct); err != nil {
				b.Fatal(err)
			}
		}
	})
	var blobs [200][]byte
	keys := make([]string, len(blobs))
	for i := range blobs {
		blobs[i] = content()
		var err error
		if keys[i], _, err = files.PutBlob(ctx, bucket, blobs[i], ct); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("current", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for i := 0; b.Loop(); i++ {
			// Ten files, each published from the blobs in turn.
			if err := files.PublishCurrent(ctx, bucket, fmt.Sprintf("src/f%d.go", i%10), blobs[i%len(blobs)], ct); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for i := 0; b.Loop(); i++ {
			if _, err := files.GetBlob(ctx, bucket, keys[i%len(keys)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// reportCPU reports the process's CPU time (user and system) per operation
// when the returned function is called: the wall time of a Put is mostly
// waiting for fsync, which costs the rest of the process nothing.
func reportCPU(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() { b.ReportMetric(float64(cpu()-start)/float64(b.N), "cpu-ns/op") }
}
