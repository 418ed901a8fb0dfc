// Command dashboards generates meshlens's Grafana dashboards with the Grafana
// Foundation SDK.
//
//	go run .                                      # write ../deploy/grafana (make dashboards)
//	go run . --out DIR                            # write DIR/dashboards/*.json and DIR/provisioning/
//	go run . --discover http://localhost:9102     # a dashboard with one row per service meshlens has seen
//	go run . --discover http://localhost:9090 -o discovered.json
//
// The static dashboards and the provisioning files are committed under
// deploy/grafana; the output is byte-for-byte deterministic, and CI
// regenerates it and fails on any difference. --discover asks a meshlens
// (its /metrics) or a Prometheus that scrapes it (group by
// (destination_service) of the Istio metrics) for the services it has seen.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/meshlens/meshlens/dashboards/internal/board"
	"github.com/meshlens/meshlens/dashboards/internal/discover"
	"github.com/meshlens/meshlens/dashboards/internal/provision"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "dashboards:", err)
		}
		os.Exit(2)
	}
}

type config struct {
	out          string
	discoverURL  string
	discoverFrom string
	output       string
	maxServices  int
	timeout      time.Duration
	board        board.Options
	provision    provision.Options
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	c := config{board: board.DefaultOptions(), provision: provision.DefaultOptions()}
	fs := flag.NewFlagSet("dashboards", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.out, "out", filepath.Join("..", "deploy", "grafana"), "directory for dashboards/*.json and provisioning/")
	fs.StringVar(&c.discoverURL, "discover", "", "meshlens (http://host:9102) or Prometheus URL: generate a dashboard for the services it has seen")
	fs.StringVar(&c.discoverFrom, "discover-from", string(discover.Auto), "what --discover points at: auto, meshlens or prometheus")
	fs.StringVar(&c.output, "o", "-", "with --discover: file to write the dashboard to (- for stdout)")
	fs.IntVar(&c.maxServices, "max-services", 100, "with --discover: at most this many services (the first by name)")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "with --discover: time limit for the discovery requests")
	fs.StringVar(&c.board.MeshlensURL, "meshlens-url", c.board.MeshlensURL, "meshlens HTTP base URL as a browser reaches it (graph page link)")
	fs.StringVar(&c.board.JaegerURL, "jaeger-url", c.board.JaegerURL, "Jaeger UI base URL as a browser reaches it")
	fs.StringVar(&c.provision.PrometheusURL, "prometheus-datasource-url", c.provision.PrometheusURL, "Prometheus URL as Grafana reaches it")
	fs.StringVar(&c.provision.JaegerURL, "jaeger-datasource-url", c.provision.JaegerURL, "Jaeger query URL as Grafana reaches it")
	fs.StringVar(&c.provision.DashboardsPath, "dashboards-path", c.provision.DashboardsPath, "where the dashboards are mounted in the Grafana container")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	c.provision.JaegerUIURL = c.board.JaegerURL
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if c.discoverURL != "" {
		return runDiscover(ctx, c, stdout, stderr)
	}
	return writeAll(c)
}

// writeAll writes the static dashboards and the provisioning files, and
// removes dashboards JSON the generator no longer produces (a renamed
// dashboard would otherwise stay behind, unseen by git diff).
func writeAll(c config) error {
	ds, err := board.All(c.board)
	if err != nil {
		return err
	}
	dir := filepath.Join(c.out, "dashboards")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	var files []string
	for _, d := range ds {
		b, err := d.JSON()
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(dir, d.File), b); err != nil {
			return err
		}
		files = append(files, d.File)
	}
	old, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	for _, f := range old {
		if !slices.Contains(files, filepath.Base(f)) {
			if err := os.Remove(f); err != nil {
				return fmt.Errorf("remove stale dashboard: %w", err)
			}
		}
	}
	for _, f := range provision.Files(c.provision) {
		if err := writeFile(filepath.Join(c.out, "provisioning", f.Path), f.Content); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func runDiscover(ctx context.Context, c config, stdout, stderr io.Writer) error {
	from, err := discover.ParseSource(c.discoverFrom)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	services, err := discover.Discover(ctx, http.DefaultClient, c.discoverURL, from)
	if err != nil {
		return err
	}
	if len(services) == 0 {
		return fmt.Errorf("no services found at %s: has meshlens received traffic?", c.discoverURL)
	}
	if len(services) > c.maxServices {
		fmt.Fprintf(stderr, "dashboards: %d services found, keeping the first %d (--max-services)\n", len(services), c.maxServices)
		services = services[:c.maxServices]
	}
	d, err := board.Discovered(c.board, services)
	if err != nil {
		return err
	}
	b, err := d.JSON()
	if err != nil {
		return err
	}
	if c.output == "-" {
		_, err = stdout.Write(b)
		return err
	}
	if err := writeFile(c.output, b); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "dashboards: wrote %s (%d services)\n", c.output, len(services))
	return nil
}
