package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestDemoStackScript checks deploy/local/demo-stack.sh with bash's parser,
// and with shellcheck when it is installed.
func TestDemoStackScript(t *testing.T) {
	const script = "local/demo-stack.sh"
	if out, err := exec.CommandContext(t.Context(), "bash", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("bash -n %s: %v\n%s", script, err, out)
	}
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Log("shellcheck not installed: only bash -n ran")
		return
	}
	if out, err := exec.CommandContext(t.Context(), sc, script).CombinedOutput(); err != nil {
		t.Errorf("shellcheck %s: %v\n%s", script, err, out)
	}
}

// TestDemoStackJaegerConfig validates deploy/local/jaeger.yaml with the
// Jaeger binary scripts/jaeger.sh builds, when it is there ($JAEGER_BIN or
// the script's cache); building it here would take minutes.
func TestDemoStackJaegerConfig(t *testing.T) {
	bin := os.Getenv("JAEGER_BIN")
	if bin == "" {
		cache := os.Getenv("MESHLENS_JAEGER_CACHE")
		if cache == "" {
			if c, err := os.UserCacheDir(); err == nil {
				cache = filepath.Join(c, "meshlens")
			}
		}
		if m, _ := filepath.Glob(filepath.Join(cache, "jaeger-*", "jaeger")); len(m) > 0 {
			bin = m[len(m)-1]
		}
	}
	if bin == "" {
		t.Skip("no Jaeger binary (scripts/jaeger.sh builds one)")
	}
	abs, err := filepath.Abs("local/jaeger.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(t.Context(), bin, "validate", "--config", "file:"+abs).CombinedOutput(); err != nil {
		t.Errorf("jaeger validate %s: %v\n%s", abs, err, out)
	}
}
