package collector

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/meshlens/meshlens/loadgen"
)

// newLoadgenCommand returns `meshlens loadgen`: pre-encoded Istio ALS
// traffic sent over many concurrent gRPC streams, flat out or at a rate.
func newLoadgenCommand() *cobra.Command {
	var (
		endpoint        string
		mesh            string
		services, edges int
		requests        int
		streamsPerProxy int
		rate            float64
		duration        time.Duration
		repeat          int
		concurrency     int
		seed            uint64
		batch           int
		connections     int
	)
	cmd := &cobra.Command{
		Use:   "loadgen",
		Short: "Send realistic Istio access-log traffic to a meshlens (or any ALS server)",
		Long: "loadgen generates Istio ALS traffic for a simulated mesh (both reporters, HTTP, gRPC and TCP,\n" +
			"node and peer metadata, trace headers), encodes it once, then streams it over concurrent gRPC\n" +
			"streams flat out (--rate 0) or at a target rate in entries per second, and reports what it sent.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if connections < 0 {
				return fmt.Errorf("--connections must not be negative, got %d", connections)
			}
			var m loadgen.Mesh
			switch mesh {
			case "bookinfo":
				m = loadgen.Bookinfo()
			case "synthetic":
				m = loadgen.Synthetic(services, 2, edges, seed)
			default:
				return fmt.Errorf("--mesh must be bookinfo or synthetic, got %q", mesh)
			}
			t0 := time.Now()
			traffic := m.Generate(loadgen.GenConfig{Seed: seed, Requests: requests, BatchSize: batch, StreamsPerProxy: streamsPerProxy})
			fmt.Fprintf(cmd.OutOrStdout(), "generated %d entries in %d messages (%d bytes) in %s\n",
				traffic.EntryCount(), traffic.MessageCount(), traffic.ByteCount(), time.Since(t0).Round(time.Millisecond))
			if connections == 0 || connections > len(traffic.Streams) {
				connections = max(len(traffic.Streams), 1)
			}
			var opened []*grpc.ClientConn
			defer func() {
				for _, c := range opened {
					_ = c.Close()
				}
			}()
			cc := make([]grpc.ClientConnInterface, connections)
			for i := range cc {
				conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
				if err != nil {
					return fmt.Errorf("connect to %s: %w", endpoint, err)
				}
				opened = append(opened, conn)
				cc[i] = conn
			}
			st, err := loadgen.Send(cmd.Context(), loadgen.NewConns(cc...), traffic, loadgen.SendOptions{
				Rate: rate, Repeat: repeat, Duration: duration, Concurrency: concurrency,
			})
			fmt.Fprintf(cmd.OutOrStdout(), "sent %d entries in %d messages (%d bytes) on %d streams in %s: %.0f entries/s, %d stream errors\n",
				st.Entries, st.Messages, st.Bytes, st.Streams, st.Elapsed.Round(time.Millisecond), st.EntriesPerSecond(), st.Errors)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&endpoint, "endpoint", "localhost:9001", "gRPC endpoint of the ALS server")
	f.StringVar(&mesh, "mesh", "synthetic", "mesh to simulate: bookinfo or synthetic")
	f.IntVar(&services, "services", 50, "services in the synthetic mesh")
	f.IntVar(&edges, "edges", 200, "call edges in the synthetic mesh")
	f.IntVar(&requests, "requests", 100_000, "requests generated (and pre-encoded) per pass")
	f.IntVar(&streamsPerProxy, "streams-per-proxy", 2, "concurrent ALS streams per proxy (Envoy worker threads)")
	f.IntVar(&batch, "batch", 100, "entries per message")
	f.Float64Var(&rate, "rate", 0, "target entries per second over all streams (0 = flat out)")
	f.DurationVar(&duration, "duration", 0, "keep sending for this long (overrides --repeat)")
	f.IntVar(&repeat, "repeat", 1, "passes over the generated traffic")
	f.IntVar(&concurrency, "concurrency", 0, "gRPC streams open at once (0 = one per generated stream)")
	f.Uint64Var(&seed, "seed", 1, "random seed (same seed, same traffic)")
	f.IntVar(&connections, "connections", 1, "gRPC connections the streams are spread over (0 = one per stream, as Envoy's worker threads do)")
	return cmd
}
