//go:build linux && !cgo

package gen

//go:generate stringer -type=Color

type Color int

const (
	Red Color = iota
	Green
)

var _ = `raw
string`

func Max[T ~int | ~float64](a, b T) T {
	if a > b {
		return a
	}
	return b
}
