package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/pprof"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// The components CPU is split into. Samples are attributed by their stack,
// walked from the leaf up: the first frame that belongs to a component
// decides, so a fake called by devbot's code (storage.Local under the
// refinement consumer) counts as the fake, and devbot's code under the
// bench's driver counts as devbot. Generic libraries (net/http, pgx, the
// Pub/Sub and gRPC clients, encoding/json) belong to nobody: their frames
// are passed over to the caller that does belong. A stack with no such
// frame (a goroutine of a library, e.g. net/http's connection reader, or
// pgxpool's health check) counts for the component that started the
// goroutine, from its pprof label (labelComponent), which the bench sets
// where it starts each component; with no label it is the runtime's (GC,
// scheduler, timers).
const (
	compDevbot  = "devbot"
	compBroker  = "broker"
	compFakes   = "fakes"
	compDriver  = "driver"
	compRuntime = "runtime"
)

// components in the order they are reported.
var components = []string{compDevbot, compBroker, compFakes, compDriver, compRuntime}

// labelComponent is the pprof label that names a goroutine's component.
const labelComponent = "devbot-bench-component"

const devbotPkg = "github.com/devbot-hq/devbot/"

// frameComponent says which component a frame belongs to, "" for none.
func frameComponent(fn, file string) string {
	switch {
	// The embedded broker: pstest, its gRPC server side, and devbot's
	// push loop that stands in for Pub/Sub's push delivery.
	case strings.Contains(fn, "/pubsub/v2/pstest.") || strings.Contains(fn, "/pubsub/pstest."),
		strings.HasPrefix(fn, "google.golang.org/grpc.(*Server)"),
		strings.HasPrefix(fn, "google.golang.org/grpc/internal/transport.(*http2Server)"),
		strings.HasPrefix(fn, "google.golang.org/grpc/internal/transport.NewServerTransport"),
		strings.HasPrefix(fn, devbotPkg+"internal/events/embedded."):
		return compBroker
	// The fake Bot API and local storage (Supabase Storage's stand-in).
	case strings.HasPrefix(fn, devbotPkg+"internal/telegram/telegramtest."),
		strings.HasPrefix(fn, devbotPkg+"internal/storage.") && strings.HasSuffix(file, "/storage/local.go"):
		return compFakes
	// The bench itself, and the profiler it runs.
	case strings.HasPrefix(fn, devbotPkg+"internal/bench."), strings.HasPrefix(fn, "runtime/pprof."):
		return compDriver
	case strings.HasPrefix(fn, devbotPkg):
		return compDevbot
	}
	return ""
}

// cpuSplit is CPU time by component, in nanoseconds.
type cpuSplit map[string]int64

func (s cpuSplit) total() (t int64) {
	for _, v := range s {
		t += v
	}
	return t
}

// profiler runs a CPU profile into memory.
type profiler struct{ buf bytes.Buffer }

// errProfiling says another CPU profile runs (devbot bench --cpuprofile):
// runtime/pprof allows one at a time.
var errProfiling = errors.New("a CPU profile of the whole run is being written (--cpuprofile)")

func startProfile() (*profiler, error) {
	p := &profiler{}
	if err := pprof.StartCPUProfile(&p.buf); err != nil {
		return nil, errProfiling
	}
	return p, nil
}

// stop ends the profile and splits it.
func (p *profiler) stop() (cpuSplit, error) {
	pprof.StopCPUProfile()
	return splitProfile(p.buf.Bytes())
}

// withComponent runs f with the goroutines it starts labelled as comp.
func withComponent(ctx context.Context, comp string, f func(context.Context)) {
	pprof.Do(ctx, pprof.Labels(labelComponent, comp), f)
}

// splitProfile reads a CPU profile (profile.proto, gzipped as runtime/pprof
// writes it) and adds up each sample's CPU time by component. Only the
// fields needed are read: samples (locations, values, labels), locations
// (their lines' functions), functions (name, file) and the string table.
func splitProfile(gz []byte) (cpuSplit, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	type sample struct {
		locs   []uint64
		values []int64
		labels [][2]int64 // key, string value
	}
	type function struct{ name, file int64 }
	var (
		samples    []sample
		locFuncs   = map[uint64][]uint64{} // location id → function ids, leaf (inlined) first
		funcs      = map[uint64]function{}
		strs       []string
		valueTypes [][2]int64 // type, unit
	)
	err = fields(data, func(num protowire.Number, typ protowire.Type, v uint64, b []byte) error {
		switch num {
		case 1: // sample_type
			var t [2]int64
			err := fields(b, func(n protowire.Number, _ protowire.Type, v uint64, _ []byte) error {
				if n == 1 || n == 2 {
					t[n-1] = int64(v)
				}
				return nil
			})
			valueTypes = append(valueTypes, t)
			return err
		case 2: // sample
			var s sample
			err := fields(b, func(n protowire.Number, t protowire.Type, v uint64, b []byte) error {
				switch n {
				case 1:
					return varints(t, v, b, func(x uint64) { s.locs = append(s.locs, x) })
				case 2:
					return varints(t, v, b, func(x uint64) { s.values = append(s.values, int64(x)) })
				case 3:
					var l [2]int64
					err := fields(b, func(n protowire.Number, _ protowire.Type, v uint64, _ []byte) error {
						if n == 1 || n == 2 {
							l[n-1] = int64(v)
						}
						return nil
					})
					s.labels = append(s.labels, l)
					return err
				}
				return nil
			})
			samples = append(samples, s)
			return err
		case 4: // location
			var id uint64
			var fns []uint64
			err := fields(b, func(n protowire.Number, _ protowire.Type, v uint64, b []byte) error {
				switch n {
				case 1:
					id = v
				case 4: // line
					return fields(b, func(n protowire.Number, _ protowire.Type, v uint64, _ []byte) error {
						if n == 1 {
							fns = append(fns, v)
						}
						return nil
					})
				}
				return nil
			})
			locFuncs[id] = fns
			return err
		case 5: // function
			var id uint64
			var f function
			err := fields(b, func(n protowire.Number, _ protowire.Type, v uint64, _ []byte) error {
				switch n {
				case 1:
					id = v
				case 2:
					f.name = int64(v)
				case 4:
					f.file = int64(v)
				}
				return nil
			})
			funcs[id] = f
			return err
		case 6: // string_table
			strs = append(strs, string(b))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	str := func(i int64) string {
		if i >= 0 && i < int64(len(strs)) {
			return strs[i]
		}
		return ""
	}
	// The CPU time is the value whose type is "cpu" (runtime/pprof writes
	// samples/count and cpu/nanoseconds).
	vi := -1
	for i, t := range valueTypes {
		if str(t[0]) == "cpu" {
			vi = i
		}
	}
	if vi < 0 {
		return nil, errors.New("cpu profile: no cpu value")
	}
	out := cpuSplit{}
	for _, s := range samples {
		if vi >= len(s.values) {
			continue
		}
		comp := ""
	walk:
		for _, l := range s.locs {
			for _, fid := range locFuncs[l] {
				f := funcs[fid]
				if comp = frameComponent(str(f.name), str(f.file)); comp != "" {
					break walk
				}
			}
		}
		if comp == "" {
			for _, l := range s.labels {
				if str(l[0]) == labelComponent {
					comp = str(l[1])
				}
			}
		}
		if comp == "" {
			comp = compRuntime
		}
		out[comp] += s.values[vi]
	}
	return out, nil
}

// fields calls f for each field of a protobuf message: v is a varint's
// value, b a length-delimited field's bytes.
func fields(data []byte, f func(num protowire.Number, typ protowire.Type, v uint64, b []byte) error) error {
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return protowire.ParseError(n)
		}
		data = data[n:]
		var v uint64
		var b []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(data)
		case protowire.BytesType:
			b, n = protowire.ConsumeBytes(data)
		default:
			n = protowire.ConsumeFieldValue(num, typ, data)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		data = data[n:]
		if err := f(num, typ, v, b); err != nil {
			return err
		}
	}
	return nil
}

// varints reads a repeated varint field, packed or not.
func varints(typ protowire.Type, v uint64, b []byte, add func(uint64)) error {
	if typ == protowire.VarintType {
		add(v)
		return nil
	}
	for len(b) > 0 {
		x, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		add(x)
		b = b[n:]
	}
	return nil
}
