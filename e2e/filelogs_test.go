package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/protobuf/proto"

	"github.com/meshlens/meshlens/loadgen"
	"github.com/meshlens/meshlens/topology"
)

// filePod is one pod's sidecar as a node's file access log: its log file
// under a kubelet's /var/log/pods layout and what the k8sattributes
// processor would add for it.
type filePod struct {
	ns, pod, uid        string
	workload, app, vers string
	lines               []string
	bodies              uint64 // request body bytes, summed
}

// podOfNode is the pod a node id names (kind~ip~pod.ns~ns.svc.cluster.local).
func podOfNode(t *testing.T, node string) (pod, ns string) {
	t.Helper()
	parts := strings.Split(node, "~")
	require.Len(t, parts, 4, node)
	ns, _, _ = strings.Cut(parts[3], ".")
	return strings.TrimSuffix(parts[2], "."+ns), ns
}

// istioLines writes one proxy's ALS HTTP entries as the lines Envoy writes
// to its stdout with Istio's default text format (meshConfig.accessLogFile:
// /dev/stdout, accessLogEncoding TEXT), from Envoy's operator definitions
// (not from meshlens's parser): "-" for an absent value, times at
// millisecond precision, durations in whole milliseconds.
func istioLines(t *testing.T, msg *alsv3.StreamAccessLogsMessage) []string {
	t.Helper()
	var out []string
	orDash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	for _, e := range msg.GetHttpLogs().GetLogEntry() {
		cp, req, resp := e.GetCommonProperties(), e.GetRequest(), e.GetResponse()
		sock := func(sa interface {
			GetAddress() string
			GetPortValue() uint32
		},
		) string {
			if sa == nil || sa.GetAddress() == "" {
				return "-"
			}
			if strings.Contains(sa.GetAddress(), ":") {
				return fmt.Sprintf("[%s]:%d", sa.GetAddress(), sa.GetPortValue())
			}
			return fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue())
		}
		protocol := "-"
		switch e.GetProtocolVersion() {
		case accesslogv3.HTTPAccessLogEntry_HTTP10:
			protocol = "HTTP/1.0"
		case accesslogv3.HTTPAccessLogEntry_HTTP11:
			protocol = "HTTP/1.1"
		case accesslogv3.HTTPAccessLogEntry_HTTP2:
			protocol = "HTTP/2"
		case accesslogv3.HTTPAccessLogEntry_HTTP3:
			protocol = "HTTP/3"
		}
		method := "-"
		if m := req.GetRequestMethod(); m != 0 {
			method = m.String()
		}
		code := "0"
		if c := resp.GetResponseCode(); c != nil {
			code = strconv.FormatUint(uint64(c.GetValue()), 10)
		}
		start := "-"
		if st := cp.GetStartTime(); st != nil {
			start = st.AsTime().UTC().Format("2006-01-02T15:04:05.000Z")
		}
		dur := "-"
		if d := cp.GetDuration(); d != nil {
			dur = strconv.FormatInt(d.AsDuration().Milliseconds(), 10)
		}
		// Envoy writes values as they are, not Go-quoted: no %q.
		line := fmt.Sprintf(`[%s] "%s %s %s" %s %s %s %s "%s" %d %d %s %s "%s" "%s" "%s" "%s" "%s" %s %s %s %s %s %s`, //nolint:gocritic // see above
			start, method, orDash(req.GetPath()), protocol,
			code, flagsOf(cp.GetResponseFlags()), orDash(resp.GetResponseCodeDetails()), orDash(cp.GetConnectionTerminationDetails()),
			orDash(cp.GetUpstreamTransportFailureReason()), req.GetRequestBodyBytes(), resp.GetResponseBodyBytes(), dur,
			orDash(resp.GetResponseHeaders()["x-envoy-upstream-service-time"]), orDash(req.GetForwardedFor()),
			orDash(req.GetUserAgent()), orDash(req.GetRequestId()), orDash(req.GetAuthority()),
			sock(cp.GetUpstreamRemoteAddress().GetSocketAddress()), orDash(cp.GetUpstreamCluster()),
			sock(cp.GetUpstreamLocalAddress().GetSocketAddress()), sock(cp.GetDownstreamLocalAddress().GetSocketAddress()),
			sock(cp.GetDownstreamRemoteAddress().GetSocketAddress()), orDash(cp.GetTlsProperties().GetTlsSniHostname()),
			orDash(cp.GetRouteName()))
		out = append(out, line)
	}
	return out
}

// fileLogPods turns a trace's HTTP streams into one file per pod, in the
// CRI log format the kubelet writes (containerd, CRI-O): each line
// "<time> stdout F <line>".
func fileLogPods(t *testing.T, tr *loadgen.Traffic) []*filePod {
	t.Helper()
	byPod := map[string]*filePod{}
	for i := range tr.Streams {
		if tr.Streams[i].Kind != loadgen.StreamHTTP {
			continue
		}
		var p *filePod
		for _, raw := range tr.Streams[i].Messages {
			var msg alsv3.StreamAccessLogsMessage
			require.NoError(t, proto.Unmarshal(raw, &msg))
			if node := msg.GetIdentifier().GetNode(); node != nil {
				pod, ns := podOfNode(t, node.GetId())
				if p = byPod[ns+"/"+pod]; p == nil {
					md := node.GetMetadata().GetFields()
					labels := md["LABELS"].GetStructValue().GetFields()
					p = &filePod{
						ns: ns, pod: pod, uid: fmt.Sprintf("0c1e2f3a-0000-4000-8000-%012d", len(byPod)),
						workload: md["WORKLOAD_NAME"].GetStringValue(),
						app:      labels["app"].GetStringValue(), vers: labels["version"].GetStringValue(),
					}
					byPod[ns+"/"+pod] = p
				}
			}
			require.NotNil(t, p, "a stream's first message names its node")
			p.lines = append(p.lines, istioLines(t, &msg)...)
			for _, e := range msg.GetHttpLogs().GetLogEntry() {
				p.bodies += e.GetRequest().GetRequestBodyBytes()
			}
		}
	}
	return slices.SortedFunc(maps.Values(byPod), func(a, b *filePod) int { return strings.Compare(a.pod, b.pod) })
}

// writeFileLogs writes the pods' files under dir as the kubelet lays them
// out (<ns>_<pod>_<uid>/istio-proxy/0.log) and returns the receivers'
// YAML and names: one filelog receiver per pod, whose container parser
// takes the namespace, pod and container from the path, and whose
// resource attributes are what k8sattributes adds from the Kubernetes API
// (the workload and the pod's app and version labels), which a test has
// no API server for.
func writeFileLogs(t *testing.T, dir string, pods []*filePod) (yaml string, names []string) {
	t.Helper()
	var b strings.Builder
	ts := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	for i, p := range pods {
		d := filepath.Join(dir, p.ns+"_"+p.pod+"_"+p.uid, "istio-proxy")
		require.NoError(t, os.MkdirAll(d, 0o755))
		var f strings.Builder
		for j, l := range p.lines {
			fmt.Fprintf(&f, "%s stdout F %s\n", ts.Add(time.Duration(j)*time.Millisecond).Format(time.RFC3339Nano), l)
		}
		require.NoError(t, os.WriteFile(filepath.Join(d, "0.log"), []byte(f.String()), 0o644))
		name := fmt.Sprintf("filelog/%d", i)
		names = append(names, name)
		fmt.Fprintf(&b, `  %s:
    include: [%q]
    start_at: beginning
    include_file_path: true
    poll_interval: 50ms
    operators:
      - type: container
        add_metadata_from_filepath: true
      - {type: add, field: 'resource["k8s.deployment.name"]', value: %q}
      - {type: add, field: 'resource["k8s.pod.labels.app"]', value: %q}
      - {type: add, field: 'resource["k8s.pod.labels.version"]', value: %q}
`, name, filepath.Join(d, "*.log"), p.workload, p.app, p.vers)
	}
	return b.String(), names
}

// nodeTotals is what each node's own proxy reported in a graph: per
// workload node, the requests it reported as client (summed over its
// edges out) and as server (over its edges in). These need no peer
// metadata: an access log without it still says who reported.
func nodeTotals(s *topology.Snapshot) map[string]float64 {
	out := map[string]float64{}
	for _, e := range s.Edges {
		if e.Protocol == "tcp" { // TCP streams go to ALS alone
			continue
		}
		st := e.Stats[0]
		if st.Client != nil && strings.HasPrefix(e.Source, "wl_") {
			out["client "+e.Source] += st.Client.Requests
		}
		if st.Server != nil && strings.HasPrefix(e.Target, "wl_") {
			out["server "+e.Target] += st.Server.Requests
		}
	}
	return out
}

// TestE2ELogSourcesEqualALS (issue 20 item 3): one generated Bookinfo
// mesh's HTTP traffic sent to three meshlens instances, as ALS, as
// OpenTelemetry logs (the stock otlp receiver into the meshlens_accesslogs
// exporter, attributes as Envoy's OpenTelemetry access logger sends them)
// and as the sidecars' stdout files in Istio's default text format (the
// stock filelog receiver with its container parser, pod from the path),
// gives the same Istio series and graph where the source carries the
// fields:
//
//   - istio_requests_total by reporter, response code, flags and
//     destination service, and by the reporting side's own workload, app
//     and version; request bytes: all three equal;
//   - by request protocol and gRPC status: ALS and OTLP equal; the text
//     format has neither content-type nor grpc-status, so a gRPC request
//     read from a file is "http" with no gRPC status (docs/ingest.md);
//   - the graph: per workload, the requests its own proxy reported as
//     client and as server, all three equal. The other side of each edge
//     comes from the peer metadata (upstream_peer, downstream_peer) ALS
//     carries and neither log carries: named in docs/ingest.md, not
//     compared.
func TestE2ELogSourcesEqualALS(t *testing.T) {
	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 20, Requests: 2000})
	als := startMeshlens(t, "--set=receivers::envoyals::traces::enabled=true", "--set=receivers::envoyals::traces::sampling_rate=1")
	_, err := loadgen.Send(context.Background(), dial(t, als.GRPC), tr, loadgen.SendOptions{})
	require.NoError(t, err)

	// OpenTelemetry logs.
	otlpAddr := freePort(t)
	cfgPath := filepath.Join(t.TempDir(), "otlp.yaml")
	require.NoError(t, os.WriteFile(cfgPath, logsConfig(otlpReceiver(otlpAddr), "otlp"), 0o644))
	otl := startMeshlens(t, "--config", cfgPath)
	client := plogotlp.NewGRPCClient(dial(t, otlpAddr))
	entries := 0
	for i := range tr.Streams {
		if tr.Streams[i].Kind != loadgen.StreamHTTP {
			continue
		}
		ld := otlpFromALS(t, tr.Streams[i].Messages)
		entries += ld.LogRecordCount()
		_, err := client.Export(context.Background(), plogotlp.NewExportRequestFromLogs(ld))
		require.NoError(t, err)
	}
	require.Positive(t, entries)

	// File access logs.
	pods := fileLogPods(t, tr)
	lines, bodies := 0, uint64(0)
	for _, p := range pods {
		lines += len(p.lines)
		bodies += p.bodies
	}
	require.Equal(t, entries, lines, "one line per entry")
	recv, names := writeFileLogs(t, filepath.Join(t.TempDir(), "var", "log", "pods"), pods)
	cfgPath = filepath.Join(t.TempDir(), "file.yaml")
	require.NoError(t, os.WriteFile(cfgPath, logsConfig(recv, names...), 0o644))
	fil := startMeshlens(t, "--config", cfgPath)

	for _, m := range []*meshlens{otl, fil} {
		require.Eventually(t, func() bool {
			v, err := m.tryMetrics("meshlens_accesslogs_entries_processed_total", "meshlens_accesslogs_entries_received_total")
			return err == nil && v[0] == float64(entries) && v[1] == float64(entries)
		}, 60*time.Second, 50*time.Millisecond, "every log record received and processed")
	}
	waitProcessed(t, als, float64(tr.EntryCount()))

	sums := func(m *meshlens, by ...string) map[string]float64 {
		_, body, err := httpGet("http://"+m.HTTP+"/metrics", "")
		require.NoError(t, err)
		return sumBy(t, body, "istio_requests_total", by...)
	}
	for _, c := range []struct {
		by   []string
		file bool // the text format carries these fields
	}{
		{[]string{"reporter", "response_code", "response_flags", "destination_service"}, true},
		{[]string{"reporter", "request_protocol", "grpc_response_status"}, false},
		// The reporting side's own workload (the other side's comes from
		// peer metadata the logs do not carry).
		{[]string{"reporter", "source_workload", "source_app", "source_version"}, true},
		{[]string{"reporter", "destination_workload", "destination_app", "destination_version"}, true},
	} {
		t.Run(fmt.Sprint(c.by), func(t *testing.T) {
			want := sums(als, c.by...)
			require.NotEmpty(t, want)
			srcs := []*meshlens{otl}
			if c.file {
				srcs = append(srcs, fil)
			}
			for i, m := range srcs {
				got := sums(m, c.by...)
				if c.by[1] == "source_workload" || c.by[1] == "destination_workload" {
					local := strings.TrimSuffix(c.by[1], "_workload") + "|"
					for _, m := range []map[string]float64{want, got} {
						maps.DeleteFunc(m, func(k string, _ float64) bool { return !strings.HasPrefix(k, local) })
					}
				}
				assert.Equal(t, want, got, []string{"otlp", "file"}[i])
			}
		})
	}
	t.Run("request bytes", func(t *testing.T) {
		want := sumMetric(t, als, "istio_request_bytes_sum")
		require.Positive(t, want)
		assert.InDelta(t, want, sumMetric(t, otl, "istio_request_bytes_sum"), 0, "otlp")
		// The text format has the body's bytes alone (%BYTES_RECEIVED%),
		// not the headers' that Istio's request size adds to it.
		assert.InDelta(t, float64(bodies), sumMetric(t, fil, "istio_request_bytes_sum"), 0, "file")
	})
	t.Run("spans", func(t *testing.T) {
		// Every instance rebuilds spans with its envoyals receiver's
		// pipeline, every trace kept (sampling_rate 1), into a nop
		// exporter: the same records give the same spans, by decision.
		// A line has no traceparent: its trace id is derived from
		// x-request-id (synthetic_trace_ids), so it is kept all the same.
		spans := func(m *meshlens) map[string]float64 {
			_, body, err := httpGet("http://"+m.HTTP+"/metrics", "")
			require.NoError(t, err)
			out := sumBy(t, body, "meshlens_spans_records_total", "decision")
			maps.Copy(out, sumBy(t, body, "meshlens_spans_total", "stage"))
			return out
		}
		for _, m := range []*meshlens{als, otl, fil} {
			require.Eventually(t, func() bool {
				s := spans(m)
				return s["built"] > 0 && s["built"] == s["exported"]
			}, 10*time.Second, 50*time.Millisecond, "every span built is exported")
		}
		want := spans(als)
		// TCP streams went to ALS alone: ineligible there, absent here.
		want["ineligible"] -= float64(tr.EntryCount() - entries)
		for i, m := range []*meshlens{otl, fil} {
			assert.Equal(t, want, spans(m), []string{"otlp", "file"}[i])
		}
	})
	t.Run("graph", func(t *testing.T) {
		const q = "/api/v1/graph?duration=10m&graphType=workload"
		want := nodeTotals(graph(t, als, q))
		require.GreaterOrEqual(t, len(want), 8, "a real graph")
		assert.Equal(t, want, nodeTotals(graph(t, otl, q)), "otlp")
		assert.Equal(t, want, nodeTotals(graph(t, fil, q)), "file")
	})
}
