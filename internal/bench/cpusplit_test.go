package bench

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

func TestFrameComponent(t *testing.T) {
	for _, c := range []struct{ fn, file, want string }{
		{"cloud.google.com/go/pubsub/v2/pstest.(*GServer).Publish", "", compBroker},
		{"google.golang.org/grpc.(*Server).handleStream", "", compBroker},
		{"google.golang.org/grpc/internal/transport.(*http2Server).HandleStreams", "", compBroker},
		{"github.com/devbot-hq/devbot/internal/events/embedded.(*pushLoop).run", "", compBroker},
		{"github.com/devbot-hq/devbot/internal/telegram/telegramtest.(*Server).ServeHTTP", "", compFakes},
		{"github.com/devbot-hq/devbot/internal/storage.(*Local).Put", "/x/internal/storage/local.go", compFakes},
		{"github.com/devbot-hq/devbot/internal/storage.writeTemp", "/x/internal/storage/local.go", compFakes},
		{"github.com/devbot-hq/devbot/internal/storage.ValidatePath", "/x/internal/storage/path.go", compDevbot},
		{"github.com/devbot-hq/devbot/internal/bench.(*poster).post", "", compDriver},
		{"github.com/devbot-hq/devbot/internal/refine.(*Runner).Run", "", compDevbot},
		{"github.com/jackc/pgx/v5.(*Conn).Exec", "", ""},
		{"google.golang.org/grpc.(*ClientConn).Invoke", "", ""},
		{"net/http.(*conn).serve", "", ""},
		{"runtime.gcBgMarkWorker", "", ""},
	} {
		if got := frameComponent(c.fn, c.file); got != c.want {
			t.Errorf("frameComponent(%q, %q) = %q, want %q", c.fn, c.file, got, c.want)
		}
	}
}

// TestSplitProfile profiles two goroutines burning CPU, one in this
// package's code (a frame of the driver) and one in the standard library
// only, started under the broker's label: each must get its share.
func TestSplitProfile(t *testing.T) {
	p, err := startProfile()
	if err != nil {
		t.Skip(err)
	}
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(rand.IntN(256))
	}
	// One after the other, so that neither starves the other on a busy
	// machine.
	stop := time.Now().Add(600 * time.Millisecond)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for time.Now().Before(stop) {
			sha256.Sum256(data)
		}
	}()
	wg.Wait()
	stop = time.Now().Add(600 * time.Millisecond)
	wg.Add(1)
	withComponent(context.Background(), compBroker, func(context.Context) {
		// gzip in a goroutine of the standard library's own: no frame of
		// any component, so its label decides.
		go compressUntil(stop, data, &wg)
	})
	wg.Wait()
	split, err := p.stop()
	if err != nil {
		t.Fatal(err)
	}
	total := split.total()
	if total < int64(200*time.Millisecond) {
		t.Fatalf("profile saw %v of CPU, want near 1.2 s: %v", time.Duration(total), split)
	}
	for _, comp := range []string{compDriver, compBroker} {
		// About half each; a machine busy with other work skews it.
		if share := float64(split[comp]) / float64(total); share < 0.1 {
			t.Errorf("%s has %.0f%% of the CPU, want about half: %v", comp, 100*share, split)
		}
	}
	if split[compDevbot]+split[compFakes] > total/5 {
		t.Errorf("CPU attributed to components that did not run: %v", split)
	}
}

// compressUntil feeds data through a pipe to gzip until stop. The
// compressing runs in a goroutine that is io.Copy itself (the pipe's
// reader copies the data), so its stack holds no frame of this package.
func compressUntil(stop time.Time, data []byte, wg *sync.WaitGroup) {
	defer wg.Done()
	pr, pw := io.Pipe()
	go io.Copy(gzip.NewWriter(io.Discard), pr)
	for time.Now().Before(stop) {
		pw.Write(data)
	}
	pw.Close()
}
