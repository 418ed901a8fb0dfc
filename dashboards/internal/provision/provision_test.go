package provision

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// committed is where make dashboards writes the provisioning files.
var committed = filepath.Join("..", "..", "..", "deploy", "grafana", "provisioning")

func TestCommittedFilesAreGenerated(t *testing.T) {
	for _, f := range Files(DefaultOptions()) {
		path := filepath.Join(committed, f.Path)
		if *update {
			if err := os.WriteFile(path, f.Content, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run make dashboards)", err)
		}
		if !bytes.Equal(want, f.Content) {
			t.Errorf("%s is stale: run make dashboards", path)
		}
	}
}

func TestFilesAreGrafanaProvisioning(t *testing.T) {
	files := Files(DefaultOptions())
	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name, UID, Type, URL string
			JSONData             struct {
				TimeInterval                string `yaml:"timeInterval"`
				ExemplarTraceIDDestinations []struct {
					Name          string
					DatasourceUID string `yaml:"datasourceUid"`
					URL           string
				} `yaml:"exemplarTraceIdDestinations"`
			} `yaml:"jsonData"`
		}
	}
	if err := yaml.Unmarshal(files[0].Content, &ds); err != nil {
		t.Fatal(err)
	}
	if ds.APIVersion != 1 || len(ds.Datasources) != 2 {
		t.Fatalf("datasources: %+v", ds)
	}
	prom, jaeger := ds.Datasources[0], ds.Datasources[1]
	if prom.UID != "prometheus" || prom.Type != "prometheus" || jaeger.UID != "jaeger" || jaeger.Type != "jaeger" {
		t.Errorf("data sources %+v %+v", prom, jaeger)
	}
	dest := prom.JSONData.ExemplarTraceIDDestinations
	if len(dest) != 2 || dest[0].Name != "trace_id" || dest[0].DatasourceUID != jaeger.UID ||
		dest[1].Name != "trace_id" || dest[1].URL != "http://localhost:16686/trace/$${__value.raw}" {
		t.Errorf("exemplar destinations %+v: want trace_id to the Jaeger data source and to the Jaeger UI ($ escaped for Grafana)", dest)
	}

	var dash struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name, Type string
			Options    struct{ Path string }
		}
	}
	if err := yaml.Unmarshal(files[1].Content, &dash); err != nil {
		t.Fatal(err)
	}
	if dash.APIVersion != 1 || len(dash.Providers) != 1 || dash.Providers[0].Type != "file" ||
		dash.Providers[0].Options.Path != DefaultOptions().DashboardsPath {
		t.Errorf("dashboard providers: %+v", dash)
	}
}
