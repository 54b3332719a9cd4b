//go:build !race

package langcheck

const raceEnabled = false
