package storage_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/storage"
	"github.com/devbot-hq/devbot/internal/storage/storagetest"
)

// BenchmarkLocalPut is what a refinement of one 4 KiB file costs Local: a
// new blob (no upsert) and the replaced plain copy (upsert), both in a
// folder that exists after the first round.
func BenchmarkLocalPut(b *testing.B) {
	l := newLocal(b)
	ctx := context.Background()
	bucket := storagetest.NewBucket(b, l)
	data := make([]byte, 4<<10)
	var seq atomic.Int64 // b.Run may run a sub-benchmark more than once
	b.Run("blob", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			key := fmt.Sprintf("_devbot/blobs/%064x", seq.Add(1))
			if err := l.Put(ctx, bucket, key, data, storage.PutOptions{ContentType: "text/plain"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("current", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for i := 0; b.Loop(); i++ {
			key := fmt.Sprintf("src/f%d.go", i%200)
			if err := l.Put(ctx, bucket, key, data, storage.PutOptions{ContentType: "text/plain", Upsert: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		for i := range 200 {
			key := fmt.Sprintf("get/f%d.go", i)
			if err := l.Put(ctx, bucket, key, data, storage.PutOptions{ContentType: "text/plain", Upsert: true}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		defer reportCPU(b)()
		for i := 0; b.Loop(); i++ {
			if _, err := l.Get(ctx, bucket, fmt.Sprintf("get/f%d.go", i%200)); err != nil {
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
