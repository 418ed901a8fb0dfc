package e2e

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/meshlens/meshlens/accesslog"
)

// logsConfig is meshlens's default pipelines, spans rebuilt from every
// record (sampling_rate 1, into a nop exporter), plus the given receivers
// (YAML under receivers:) feeding the meshlens_accesslogs exporter, as
// docs/ingest.md configures OpenTelemetry and file access logs.
func logsConfig(receivers string, names ...string) []byte {
	return fmt.Appendf(nil, `extensions:
  meshlens:
    endpoint: ${env:MESHLENS_HTTP_ENDPOINT}
receivers:
  envoyals:
    endpoint: ${env:MESHLENS_GRPC_ENDPOINT}
    hub: meshlens
    traces: {enabled: true, sampling_rate: 1}
%s
exporters:
  nop:
  meshlens_accesslogs:
    hub: meshlens
service:
  extensions: [meshlens]
  pipelines:
    traces:
      receivers: [envoyals]
      exporters: [nop]
    logs:
      receivers: [%s]
      exporters: [meshlens_accesslogs]
  telemetry:
    metrics:
      level: none
`, receivers, strings.Join(names, ", "))
}

// otlpReceiver is the stock otlp receiver's YAML, on addr.
func otlpReceiver(addr string) string {
	return fmt.Sprintf("  otlp:\n    protocols:\n      grpc:\n        endpoint: %s\n", addr)
}

// otlpFromALS turns one proxy's ALS stream into OpenTelemetry logs as
// Envoy's OpenTelemetry access logger sends them with the recommended
// attributes (format.EnvoyOTelAttributes): the node in the resource, one
// log record per HTTP entry, numbers as ints, times and durations at the
// operators' millisecond precision. It is written from Envoy's operator
// definitions, not from meshlens's decoder.
func otlpFromALS(t *testing.T, messages [][]byte) plog.Logs {
	t.Helper()
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for _, raw := range messages {
		var msg alsv3.StreamAccessLogsMessage
		require.NoError(t, proto.Unmarshal(raw, &msg))
		if node := msg.GetIdentifier().GetNode(); node != nil {
			ra := rl.Resource().Attributes()
			ra.PutStr("node_name", node.GetId())
			ra.PutStr("cluster_name", node.GetCluster())
			// What the k8sattributes processor adds from the Kubernetes
			// API for the pod: here taken from the node's Istio metadata.
			md := node.GetMetadata().GetFields()
			if ns := md["NAMESPACE"].GetStringValue(); ns != "" {
				parts := strings.Split(node.GetId(), "~") // sidecar~ip~pod.ns~ns.svc.cluster.local
				ra.PutStr("k8s.namespace.name", ns)
				ra.PutStr("k8s.pod.name", strings.TrimSuffix(parts[2], "."+ns))
				ra.PutStr("k8s.deployment.name", md["WORKLOAD_NAME"].GetStringValue())
				labels := md["LABELS"].GetStructValue().GetFields()
				ra.PutStr("k8s.pod.labels.app", labels["app"].GetStringValue())
				ra.PutStr("k8s.pod.labels.version", labels["version"].GetStringValue())
			}
		}
		for _, e := range msg.GetHttpLogs().GetLogEntry() {
			cp, req, resp := e.GetCommonProperties(), e.GetRequest(), e.GetResponse()
			a := lrs.AppendEmpty().Attributes()
			str := func(k, v string) {
				if v != "" {
					a.PutStr(k, v)
				}
			}
			if st := cp.GetStartTime(); st != nil {
				str("start_time", st.AsTime().UTC().Format("2006-01-02T15:04:05.000Z"))
			}
			str("method", req.GetRequestMethod().String())
			str("path", req.GetPath())
			str("authority", req.GetAuthority())
			str("request_id", req.GetRequestId())
			str("user_agent", req.GetUserAgent())
			str("traceparent", req.GetRequestHeaders()["traceparent"])
			str("content_type", req.GetRequestHeaders()["content-type"])
			switch e.GetProtocolVersion() {
			case accesslogv3.HTTPAccessLogEntry_HTTP11:
				str("protocol", "HTTP/1.1")
			case accesslogv3.HTTPAccessLogEntry_HTTP2:
				str("protocol", "HTTP/2")
			case accesslogv3.HTTPAccessLogEntry_HTTP10:
				str("protocol", "HTTP/1.0")
			}
			if c := resp.GetResponseCode(); c != nil {
				a.PutInt("response_code", int64(c.GetValue()))
			}
			if g := resp.GetResponseTrailers()["grpc-status"]; g != "" {
				n, err := strconv.Atoi(g)
				require.NoError(t, err)
				a.PutInt("grpc_status", int64(n))
			}
			str("response_flags", flagsOf(cp.GetResponseFlags()))
			if d := cp.GetDuration(); d != nil {
				a.PutInt("duration", d.AsDuration().Milliseconds())
			}
			a.PutInt("bytes_received", int64(req.GetRequestBodyBytes()))                           //nolint:gosec // test sizes
			a.PutInt("bytes_sent", int64(resp.GetResponseBodyBytes()))                             //nolint:gosec // test sizes
			a.PutInt("downstream_wire_bytes_received", int64(cp.GetDownstreamWireBytesReceived())) //nolint:gosec // test sizes
			a.PutInt("downstream_wire_bytes_sent", int64(cp.GetDownstreamWireBytesSent()))         //nolint:gosec // test sizes
			str("upstream_cluster", cp.GetUpstreamCluster())
			str("route_name", cp.GetRouteName())
			str("requested_server_name", cp.GetTlsProperties().GetTlsSniHostname())
			for _, san := range cp.GetTlsProperties().GetPeerCertificateProperties().GetSubjectAltName() {
				str("downstream_peer_uri_san", san.GetUri())
				break
			}
			for _, san := range cp.GetTlsProperties().GetLocalCertificateProperties().GetSubjectAltName() {
				str("downstream_local_uri_san", san.GetUri())
				break
			}
			if sa := cp.GetUpstreamRemoteAddress().GetSocketAddress(); sa != nil {
				str("upstream_host", fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue()))
			}
			if sa := cp.GetDownstreamLocalAddress().GetSocketAddress(); sa != nil {
				str("downstream_local_address", fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue()))
			}
			if sa := cp.GetDownstreamRemoteAddress().GetSocketAddress(); sa != nil {
				str("downstream_remote_address", fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue()))
			}
			if cp.GetAccessLogType() != accesslogv3.AccessLogType_NotSet {
				str("access_log_type", cp.GetAccessLogType().String())
			}
		}
	}
	return ld
}

// flagsOf writes ResponseFlags as %RESPONSE_FLAGS% does: the short codes
// of the set flags, by field number.
func flagsOf(f *accesslogv3.ResponseFlags) string {
	if f == nil {
		return "-"
	}
	var bits accesslog.ResponseFlags
	f.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() == protoreflect.BoolKind && v.Bool() {
			bits |= 1 << fd.Number()
		}
		return true
	})
	return bits.String()
}

// sumMetric sums every series of a metric in m's /metrics.
func sumMetric(t *testing.T, m *meshlens, name string) float64 {
	t.Helper()
	_, body, err := httpGet("http://"+m.HTTP+"/metrics", "")
	require.NoError(t, err)
	v, err := sumSeries(body, name)
	require.NoError(t, err)
	return v
}

// sumBy sums the samples of a metric in an exposition by the values of the
// given labels (joined by "|"), parsed with expfmt.
func sumBy(t *testing.T, body, name string, by ...string) map[string]float64 {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err)
	out := map[string]float64{}
	for _, m := range fams[name].GetMetric() {
		vals := make([]string, len(by))
		for _, l := range m.GetLabel() {
			if i := slices.Index(by, l.GetName()); i >= 0 {
				vals[i] = l.GetValue()
			}
		}
		out[strings.Join(vals, "|")] += m.GetCounter().GetValue()
	}
	return out
}
