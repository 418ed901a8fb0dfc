package captures

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeTB records what Dir asks of a testing.TB instead of ending the test.
type fakeTB struct {
	testing.TB
	skipped, fatal string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Skipf(format string, args ...any) { f.skipped = fmt.Sprintf(format, args...) }

func (f *fakeTB) Fatalf(format string, args ...any) { f.fatal = fmt.Sprintf(format, args...) }

// unset clears the variables for the test (t.Setenv restores them after).
func unset(t *testing.T) {
	t.Helper()
	for _, k := range []string{EnvDir, EnvRequire} {
		t.Setenv(k, "")
		require.NoError(t, os.Unsetenv(k))
	}
}

func TestDirPresent(t *testing.T) {
	unset(t)
	dir := t.TempDir()
	t.Setenv(EnvDir, dir)
	f := &fakeTB{TB: t}
	assert.Equal(t, filepath.Join(dir, "als", "x.json"), Dir(f, "als", "x.json"))
	assert.Equal(t, dir, Dir(f))
	assert.Empty(t, f.skipped)
	assert.Empty(t, f.fatal)
	p, err := Path("kiali")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "kiali"), p)
}

// TestDefault: unset, the captures are ../shared/testdata/envoy beside the
// module root, found from this package's directory two levels down.
func TestDefault(t *testing.T) {
	unset(t)
	wd, err := os.Getwd()
	require.NoError(t, err)
	root, explicit, err := Root()
	require.NoError(t, err)
	assert.False(t, explicit)
	assert.Equal(t, filepath.Join(wd, "..", "..", "..", "shared", "testdata", "envoy"), root)
}

// TestModuleRoot: nested modules are passed over, a relative variable is
// taken from the module root, and outside the module there is no default.
func TestModuleRoot(t *testing.T) {
	unset(t)
	top := t.TempDir()
	nested := filepath.Join(top, "dashboards", "internal")
	require.NoError(t, os.MkdirAll(nested, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(top, "go.mod"), []byte("// c\nmodule github.com/meshlens/meshlens // c\n\ngo 1.26\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(top, "dashboards", "go.mod"), []byte("module github.com/meshlens/meshlens/dashboards\n"), 0o644))
	t.Chdir(nested)
	root, _, err := Root()
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(filepath.Dir(top), "shared", "testdata", "envoy"), root)

	t.Setenv(EnvDir, "captures")
	root, explicit, err := Root()
	require.NoError(t, err)
	assert.True(t, explicit)
	assert.Equal(t, filepath.Join(top, "captures"), root)

	require.NoError(t, os.Unsetenv(EnvDir))
	t.Chdir(filepath.Dir(top))
	f := &fakeTB{TB: t}
	assert.Empty(t, Dir(f, "als"))
	assert.Contains(t, f.skipped, "no go.mod of github.com/meshlens/meshlens above")
	assert.Empty(t, f.fatal)
}

func TestDirAbsent(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nonexistent")
	notDir := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(notDir, nil, 0o644))
	tests := []struct {
		name             string
		env              map[string]string
		skip             bool
		path, msg, notIn string
	}{
		{
			name: "default missing: skip", env: map[string]string{}, skip: true,
			msg: "(MESHLENS_CAPTURES is not set): set MESHLENS_CAPTURES to their directory",
		},
		{
			name: "required: fail", env: map[string]string{EnvRequire: "1"},
			msg: "(MESHLENS_REQUIRE_CAPTURES=1, MESHLENS_CAPTURES is not set)",
		},
		{name: "required off: skip", env: map[string]string{EnvRequire: "0"}, skip: true, notIn: EnvRequire + "="},
		{name: "explicit missing: fail", env: map[string]string{EnvDir: missing}, path: missing, msg: "(MESHLENS_CAPTURES=" + missing + ")"},
		{
			name: "explicit missing and required: fail", env: map[string]string{EnvDir: missing, EnvRequire: "1"}, path: missing,
			msg: "(MESHLENS_REQUIRE_CAPTURES=1, MESHLENS_CAPTURES=" + missing + ")",
		},
		{name: "not a directory: fail", env: map[string]string{EnvDir: notDir}, path: notDir, msg: notDir + ": not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			unset(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			// Point the default at a directory that does not exist.
			top := t.TempDir()
			require.NoError(t, os.Mkdir(filepath.Join(top, "repo"), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(top, "repo", "go.mod"), []byte("module github.com/meshlens/meshlens\n"), 0o644))
			t.Chdir(filepath.Join(top, "repo"))
			if tt.path == "" {
				tt.path = filepath.Join(top, "shared", "testdata", "envoy")
			}

			f := &fakeTB{TB: t}
			assert.Empty(t, Dir(f, "als"))
			got := f.fatal
			if tt.skip {
				assert.Empty(t, f.fatal)
				got = f.skipped
			} else {
				assert.Empty(t, f.skipped)
			}
			assert.True(t, strings.HasPrefix(got, "real Envoy captures not found at "+tt.path), got)
			assert.Contains(t, got, tt.msg)
			assert.Contains(t, got, "they come from ../shared/testdata/envoy beside the repository, see CONTRIBUTING.md")
			if tt.notIn != "" {
				assert.NotContains(t, got, tt.notIn)
			}
			_, err := Path("als")
			require.EqualError(t, err, got)
		})
	}
}

// TestDirSkipsRealTest: with a real *testing.T, Dir skips the test.
func TestDirSkipsRealTest(t *testing.T) {
	unset(t)
	t.Chdir(t.TempDir()) // no go.mod above: no default
	var skipped bool
	t.Run("sub", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		Dir(t, "als")
		t.Error("Dir returned instead of skipping")
	})
	assert.True(t, skipped)
}

// TestDirFailsRealTest runs this test binary again with the captures
// required and missing: the test fails with the message, not a skip.
func TestDirFailsRealTest(t *testing.T) {
	if os.Getenv("CAPTURES_TEST_CHILD") == "1" {
		Dir(t, "als")
		t.Log("Dir returned")
		return
	}
	missing := filepath.Join(t.TempDir(), "nonexistent")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestDirFailsRealTest$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "CAPTURES_TEST_CHILD=1", EnvRequire+"=1", EnvDir+"="+missing)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%s", out)
	assert.Contains(t, string(out), "--- FAIL: TestDirFailsRealTest")
	assert.Contains(t, string(out), "real Envoy captures not found at "+missing+" (MESHLENS_REQUIRE_CAPTURES=1, MESHLENS_CAPTURES="+missing+")")
	assert.NotContains(t, string(out), "Dir returned")
}
