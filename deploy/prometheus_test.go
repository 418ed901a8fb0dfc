package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const promDir = "prometheus/"

// promtool returns Prometheus's own checker (Debian package prometheus; CI
// installs it). Without it the test skips, except in CI.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool not found (apt-get install prometheus)")
		}
		t.Skip("promtool not found (apt-get install prometheus)")
	}
	return p
}

func runPromtool(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), promtool(t), args...).CombinedOutput()
	if err != nil {
		t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestPrometheusLocal checks the config make demo-stack runs, with its rule
// file, and the alert rules.
func TestPrometheusLocal(t *testing.T) {
	runPromtool(t, "check", "config", promDir+"prometheus.yml")
	runPromtool(t, "check", "rules", promDir+"meshlens-alerts.yml")
	runPromtool(t, "test", "rules", promDir+"meshlens-alerts.test.yml")

	type scrapeConfig struct {
		JobName       string `json:"job_name"`
		HonorLabels   bool   `json:"honor_labels"`
		StaticConfigs []struct {
			Targets []string `json:"targets"`
		} `json:"static_configs"`
	}
	var cfg struct {
		ScrapeConfigs []scrapeConfig `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal(readFile(t, promDir+"prometheus.yml"), &cfg); err != nil {
		t.Fatal(err)
	}
	idx := slices.IndexFunc(cfg.ScrapeConfigs, func(s scrapeConfig) bool { return s.JobName == "meshlens" })
	if idx < 0 {
		t.Fatal("no job meshlens (the alerts and dashboards select job=\"meshlens\")")
	}
	job := cfg.ScrapeConfigs[idx]
	if !job.HonorLabels {
		t.Error("job meshlens: honor_labels must be true (envoy_* series carry namespace and pod)")
	}
	// demo-stack.sh rewrites this exact target when the HTTP port changes.
	if len(job.StaticConfigs) != 1 || !slices.Equal(job.StaticConfigs[0].Targets, []string{"localhost:9102"}) {
		t.Errorf("job meshlens: targets %v, want [localhost:9102]", job.StaticConfigs)
	}
}

// TestPrometheusKubernetes checks the in-cluster scrape job. Debian's
// Prometheus is built without Kubernetes service discovery, so the
// kubernetes_sd_configs block is checked against Prometheus's field names
// here, and promtool checks the rest with that block replaced by a static
// target.
func TestPrometheusKubernetes(t *testing.T) {
	const path = promDir + "prometheus-kubernetes.yml"
	var cfg map[string]any
	if err := yaml.Unmarshal(readFile(t, path), &cfg); err != nil {
		t.Fatal(err)
	}
	jobs, _ := cfg["scrape_configs"].([]any)
	var job map[string]any
	for _, j := range jobs {
		if m, ok := j.(map[string]any); ok && m["job_name"] == "meshlens" {
			job = m
		}
	}
	if job == nil {
		t.Fatalf("%s: no job meshlens", path)
	}
	// kubernetes_sd_configs, as in Prometheus's discovery/kubernetes.SDConfig
	// (the fields this file may use).
	var sd []struct {
		Role       string `json:"role"`
		Namespaces struct {
			Names []string `json:"names"`
		} `json:"namespaces"`
	}
	b, _ := json.Marshal(job["kubernetes_sd_configs"])
	if err := strictJSON(b, &sd); err != nil {
		t.Fatalf("%s: kubernetes_sd_configs: %v", path, err)
	}
	if len(sd) != 1 || sd[0].Role != "endpoints" || !slices.Equal(sd[0].Namespaces.Names, []string{"meshlens"}) {
		t.Errorf("%s: want role endpoints in namespace meshlens, got %+v", path, sd)
	}
	var auth struct {
		Type            string `json:"type"`
		CredentialsFile string `json:"credentials_file"`
	}
	b, _ = json.Marshal(job["authorization"])
	if err := strictJSON(b, &auth); err != nil || auth.Type != "Bearer" || auth.CredentialsFile == "" {
		t.Errorf("%s: want authorization type Bearer with a credentials_file (%v)", path, err)
	}
	if hl, _ := job["honor_labels"].(bool); !hl {
		t.Errorf("%s: honor_labels must be true", path)
	}
	// The relabelling keeps the Service's HTTP port by name.
	rb, _ := json.Marshal(job["relabel_configs"])
	if !strings.Contains(string(rb), `"meshlens;http"`) {
		t.Errorf("%s: the keep rule must select service meshlens, port http", path)
	}

	delete(job, "kubernetes_sd_configs")
	job["static_configs"] = []any{map[string]any{"targets": []any{"meshlens.meshlens.svc:9102"}}}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, "check", "config", "--syntax-only", tmp)
}
