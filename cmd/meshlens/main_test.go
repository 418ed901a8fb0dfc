package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/collector"
)

// runMainEnv set to 1 makes the test binary run the real main with the
// arguments after "--" instead of the tests (see runMain).
const runMainEnv = "MESHLENS_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		flag.Parse()
		os.Args = append([]string{"meshlens"}, flag.Args()...)
		main()
		os.Exit(0) // main returned: the exit status of the real command
	}
	os.Exit(m.Run())
}

// runMain runs main with args in a child process, as the meshlens binary
// would run, and returns its stdout, stderr and exit status.
func runMain(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return out.String(), errOut.String(), exit.ExitCode()
	}
	require.NoError(t, err)
	return out.String(), errOut.String(), 0
}

// TestMainVersion runs the real main with --version: the command line is
// wired, prints the version on stdout and exits cleanly.
func TestMainVersion(t *testing.T) {
	stdout, stderr, code := runMain(t, "--version")
	assert.Equal(t, 0, code, "exit status; stderr: %s", stderr)
	assert.Equal(t, "meshlens version "+collector.Version+"\n", stdout)
	assert.Empty(t, stderr)
}

// TestMainError runs the real main with an unknown flag: it reports the
// error and exits with status 1.
func TestMainError(t *testing.T) {
	stdout, stderr, code := runMain(t, "--no-such-flag")
	assert.Equal(t, 1, code, "exit status")
	assert.Contains(t, stderr, "unknown flag: --no-such-flag")
	assert.NotContains(t, stdout, "version")
}
