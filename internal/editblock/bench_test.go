package editblock

import (
	"fmt"
	"testing"
	"time"

	"github.com/devbot-hq/devbot/internal/editblock/editblocktest"
)

// The benchmarks of the README's Benchmarks section. Each reports, beside
// its own cost, a floor measured in the same run: finding every SEARCH
// text with bytes.Index and copying the file once (floor-ns/op), and the
// ratio to it (x-floor). Targets: exact blocks within 3x of the floor,
// whitespace-tolerant ones within 10x, memory under 3x the file size.

// measure runs op b.N times, each beside a run of the floor with the
// timer stopped, so that both see the same load of the machine, and
// reports the floor and the ratio.
func measure(b *testing.B, files [][]byte, searches [][][]byte, op func()) {
	b.ReportAllocs()
	var opNs, floorNs time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		op()
		opNs += time.Since(t0)
		b.StopTimer() // (it reads the memory statistics: not part of either time)
		t1 := time.Now()
		editblocktest.Floor(files, searches)
		floorNs += time.Since(t1)
		b.StartTimer()
	}
	b.ReportMetric(float64(floorNs.Nanoseconds())/float64(b.N), "floor-ns/op")
	b.ReportMetric(float64(opNs)/float64(floorNs), "x-floor")
}

func benchOne(b *testing.B, size, blocks int, outdent bool) { benchAt(b, size, blocks, outdent, false) }

func benchAt(b *testing.B, size, blocks int, outdent, top bool) {
	file, n := editblocktest.BenchFile(size)
	content := []byte(file)
	resp, searches := editblocktest.BenchReply("app.py", n, blocks, outdent, top)
	want := StrategyExact
	if outdent {
		want = StrategyIndent
	}
	b.SetBytes(int64(len(content)))
	measure(b, [][]byte{content}, [][][]byte{searches}, func() {
		res, err := Apply("app.py", content, resp)
		if err != nil || len(res.Blocks) != blocks || res.Blocks[0].Strategy != want || res.Diff == "" {
			b.Fatalf("err %v, %d blocks", err, len(res.Blocks))
		}
	})
}

func sizeName(size int) string {
	if size >= 1<<20 {
		return fmt.Sprintf("%dMiB", size>>20)
	}
	return fmt.Sprintf("%dKiB", size>>10)
}

var benchSizes = []int{64 << 10, 256 << 10, 1 << 20, 4 << 20}

func BenchmarkExact(b *testing.B) {
	for _, size := range benchSizes {
		for _, blocks := range []int{1, 5, 20, 100} {
			b.Run(fmt.Sprintf("%s/%dblocks", sizeName(size), blocks), func(b *testing.B) { benchOne(b, size, blocks, false) })
		}
	}
}

func BenchmarkTolerant(b *testing.B) {
	for _, size := range benchSizes {
		for _, blocks := range []int{1, 5, 20} {
			b.Run(fmt.Sprintf("%s/%dblocks", sizeName(size), blocks), func(b *testing.B) { benchOne(b, size, blocks, true) })
		}
	}
}

// BenchmarkExactTop: one block at the top of the file. The floor finds it
// at once and only copies the file; the engine must read the whole file to
// know that the SEARCH text occurs once, so this is the worst ratio.
func BenchmarkExactTop(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) { benchAt(b, size, 1, false, true) })
	}
}

// BenchmarkMultiFile: 10 files of 100 KiB, 3 exact blocks each, in one reply.
func BenchmarkMultiFile(b *testing.B) {
	t, files, searches, reply := editblocktest.MultiFile()
	tree := MapTree(t)
	b.SetBytes(10 * 100 << 10)
	measure(b, files, searches, func() {
		cs, err := applySetBench(tree, reply)
		if err != nil || cs != 10 {
			b.Fatalf("err %v, %d files", err, cs)
		}
	})
}
