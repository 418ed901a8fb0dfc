package collector

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/otelcol"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/meshlens/meshlens/loadgen"
)

// Version is set at build time with -ldflags "-X ...collector.Version=...".
var Version = "dev"

// Settings returns the collector settings of the distribution: its
// components and config providers, with the embedded default config used
// when no --config flag is given.
func Settings() otelcol.CollectorSettings { return settings(newMemoryLimit()) }

// settings are the distribution's settings; mem applies the process-wide
// memory limit from the resolved configuration (memlimit.go).
func settings(mem *memoryLimit) otelcol.CollectorSettings {
	return otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{
			Command:     "meshlens",
			Description: "meshlens: Envoy access logs to Istio-standard metrics, a live topology and traces",
			Version:     Version,
		},
		Factories: Components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				URIs: []string{"yaml:" + DefaultConfig},
				ProviderFactories: []confmap.ProviderFactory{
					envprovider.NewFactory(),
					fileprovider.NewFactory(),
					yamlprovider.NewFactory(),
				},
				ConverterFactories: []confmap.ConverterFactory{mem.factory()},
			},
		},
	}
}

// NewCommand returns the meshlens command line: the collector's own command
// (run, --config, --set, validate, components) plus --demo and loadgen.
func NewCommand() *cobra.Command {
	mem := newMemoryLimit()
	cmd := otelcol.NewCommand(settings(mem))
	cmd.Short = "meshlens: Envoy access logs to Istio-standard metrics, a live topology and traces"
	var (
		demo         bool
		demoRate     float64
		demoEndpoint string
	)
	cmd.Flags().BoolVar(&demo, "demo", false, "also run a simulated Bookinfo mesh that streams access logs into meshlens")
	cmd.Flags().Float64Var(&demoRate, "demo-rate", 20, "requests per second of the --demo mesh")
	// The embedded config listens on MESHLENS_GRPC_ENDPOINT when set: the
	// demo mesh follows it.
	cmd.Flags().StringVar(&demoEndpoint, "demo-endpoint", cmp.Or(os.Getenv("MESHLENS_GRPC_ENDPOINT"), "localhost:9001"),
		"gRPC endpoint the --demo mesh sends to (default: MESHLENS_GRPC_ENDPOINT, else localhost:9001)")
	tracesEndpoint := addTracesFlag(cmd) // --traces-endpoint: traces.go
	kialiUI := cmd.Flags().String(kialiUIFlag, "",
		"serve this Kiali UI build (the build/ folder of the npm package @kiali/kiali-ui) at /kiali/ (extensions::meshlens::kiali::ui_dir)")
	run := cmd.RunE
	cmd.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		if err := useDefaultConfig(c); err != nil {
			return err
		}
		if err := useKialiUI(c, *kialiUI); err != nil {
			return err
		}
		return useTracesEndpoint(c, *tracesEndpoint) // after the base config, before --set
	}
	cmd.RunE = func(c *cobra.Command, args []string) error {
		// MESHLENS_CPUPROFILE=<file> profiles the whole run (used by the
		// load test); MESHLENS_TRACE=<file> writes a runtime execution trace
		// of it (go tool trace -pprof=sync shows what ingest waited for).
		// See BENCHMARKS.md.
		stopProfile, err := startRecording(os.Getenv("MESHLENS_CPUPROFILE"), "CPU profile", pprof.StartCPUProfile, pprof.StopCPUProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
		stopTrace, err := startRecording(os.Getenv("MESHLENS_TRACE"), "execution trace", trace.Start, trace.Stop)
		if err != nil {
			return err
		}
		defer stopTrace()
		defer mem.restore() // the process's own memory limit, set from the config
		if !demo {
			return run(c, args)
		}
		ctx, cancel := context.WithCancel(c.Context())
		defer cancel()
		stopDemo, err := startDemo(ctx, demoEndpoint, demoRate)
		if err != nil {
			return err
		}
		defer stopDemo()
		// The embedded config serves HTTP on MESHLENS_HTTP_ENDPOINT when
		// set; say where the page is, in a line of its own among the logs.
		announced := make(chan struct{})
		go func() {
			defer close(announced)
			announcePage(ctx, c.ErrOrStderr(), cmp.Or(os.Getenv("MESHLENS_HTTP_ENDPOINT"), "localhost:9102"), 100*time.Millisecond)
		}()
		defer func() { cancel(); <-announced }()
		return run(c, args)
	}
	cmd.AddCommand(newLoadgenCommand())
	return cmd
}

// useDefaultConfig makes the embedded default config the base when no
// --config is given, so that --set (and other flags that add config) apply on
// top of it instead of replacing it.
func useDefaultConfig(c *cobra.Command) error {
	if f := c.Flags().Lookup("config"); f != nil && !f.Changed {
		if err := c.Flags().Set("config", "yaml:"+DefaultConfig); err != nil {
			return fmt.Errorf("use the default config: %w", err)
		}
	}
	return nil
}

// startDemo streams a simulated mesh into the receiver in the background.
func startDemo(ctx context.Context, endpoint string, rate float64) (func(), error) {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("demo: connect to %s: %w", endpoint, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = loadgen.Demo(ctx, conn, loadgen.Bookinfo(), rate, time.Now)
	}()
	return func() {
		cancel()
		<-done
		_ = conn.Close()
	}, nil
}

// announcePage waits until meshlens answers on endpoint (its /readyz) and
// writes one plain line saying where the graph page and the metrics are:
// the first thing a newcomer running make run needs, which the collector's
// JSON logs do not say. It gives up silently when ctx ends first.
func announcePage(ctx context.Context, w io.Writer, endpoint string, every time.Duration) {
	base := "http://" + browsable(endpoint)
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", http.NoBody)
		if err != nil {
			return
		}
		resp, err := client.Do(req)
		if err != nil {
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			_, _ = fmt.Fprintf(w, "\nmeshlens is running with a simulated Bookinfo mesh: open %s/ for the live graph (metrics: %s/metrics)\n\n", base, base)
			return
		}
	}
}

// browsable turns a listen address into one a browser on this machine
// opens: an unspecified host (":9102", "0.0.0.0:9102", "[::]:9102") is
// localhost.
func browsable(endpoint string) string {
	host, port, err := net.SplitHostPort(endpoint)
	if err != nil {
		return endpoint
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// startRecording starts writing a profile or trace to path (nothing when
// path is empty) and returns the function that ends it.
func startRecording(path, what string, start func(io.Writer) error, stop func()) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", what, err)
	}
	if err := start(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", what, err)
	}
	return func() { stop(); _ = f.Close() }, nil
}

const kialiUIFlag = "kiali-ui"

// useKialiUI sets extensions::meshlens::kiali::ui_dir to dir after the
// config the command already has (--set still applies last). It does
// nothing for an empty dir.
func useKialiUI(c *cobra.Command, dir string) error {
	f := c.Flags().Lookup("config")
	if dir == "" || f == nil {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("--%s: %w", kialiUIFlag, err)
	}
	quoted, err := json.Marshal(abs) // a JSON string is a YAML double-quoted scalar
	if err != nil {
		return fmt.Errorf("--%s: %w", kialiUIFlag, err)
	}
	if err := c.Flags().Set("config", "yaml:extensions::meshlens::kiali::ui_dir: "+string(quoted)); err != nil {
		return fmt.Errorf("--%s: %w", kialiUIFlag, err)
	}
	return nil
}
