//go:build race

package api

// raceEnabled reports whether the tests run with the race detector, which
// makes the code 5–10 times slower.
const raceEnabled = true
