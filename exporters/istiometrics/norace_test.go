//go:build !race

package istiometrics

const raceEnabled = false
