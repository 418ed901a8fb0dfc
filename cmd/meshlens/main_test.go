package main

import (
	"os"
	"testing"
)

// TestMainVersion runs the real main with --version: the command line is
// wired and exits cleanly.
func TestMainVersion(t *testing.T) {
	old := os.Args
	t.Cleanup(func() { os.Args = old })
	os.Args = []string{"meshlens", "--version"}
	main()
}
