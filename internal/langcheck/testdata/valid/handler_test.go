package handler

import "testing"

func TestTable(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   int
		want int
	}{
		{"zero", 0, 0},
		{"one", 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in * 2; got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}
