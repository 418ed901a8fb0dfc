package wire

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshlens/meshlens/internal/benchutil"
)

// istioPeer is the filter-state value Istio >= 1.24 logs for a peer: an Any
// holding a Struct with the ten keys meshlens reads.
func istioPeer(app, version, namespace string, i int) *anypb.Any {
	s, err := structpb.NewStruct(map[string]any{
		"type":      "deployment",
		"workload":  app + "-" + version,
		"name":      fmt.Sprintf("%s-%s-6d4b9c7f5-%05d", app, version, i),
		"namespace": namespace,
		"cluster":   "Kubernetes",
		"service":   app,
		"revision":  version,
		"app":       app,
		"version":   version,
		"identity":  "spiffe://cluster.local/ns/" + namespace + "/sa/bookinfo-" + app,
	})
	if err != nil {
		panic(err)
	}
	a, err := anypb.New(s)
	if err != nil {
		panic(err)
	}
	return a
}

// istioEntry is a realistic HTTP entry from an Istio sidecar: even i an
// outbound (client) entry of productpage calling reviews, odd i the inbound
// (server) entry of reviews, with mTLS.
func istioEntry(i int) *accesslogv3.HTTPAccessLogEntry {
	inbound := i%2 == 1
	traceID := fmt.Sprintf("%032x", 0x0af7651916cd43dd+i)
	spanID := fmt.Sprintf("%016x", uint64(0xb7ad6b7169203331)+uint64(i))
	cp := &accesslogv3.AccessLogCommon{
		StartTime:                   &timestamppb.Timestamp{Seconds: 1735689600 + int64(i), Nanos: int32(i * 1000)},
		TimeToLastRxByte:            &durationpb.Duration{Nanos: 81000},
		TimeToFirstUpstreamTxByte:   &durationpb.Duration{Nanos: 2353100},
		TimeToLastUpstreamTxByte:    &durationpb.Duration{Nanos: 2362295},
		TimeToFirstUpstreamRxByte:   &durationpb.Duration{Nanos: 10500490},
		TimeToLastUpstreamRxByte:    &durationpb.Duration{Nanos: 10735195},
		TimeToFirstDownstreamTxByte: &durationpb.Duration{Nanos: 10669993},
		TimeToLastDownstreamTxByte:  &durationpb.Duration{Nanos: 10745496},
		Duration:                    &durationpb.Duration{Nanos: 10745496},
		UpstreamRequestAttemptCount: 1,
		StreamId:                    fmt.Sprintf("9b5b7a2e-3c1d-4f6a-8e2b-%012x", i),
		DownstreamWireBytesSent:     uint64(1200 + i),
		DownstreamWireBytesReceived: uint64(640 + i),
		UpstreamWireBytesSent:       uint64(700 + i),
		UpstreamWireBytesReceived:   uint64(1150 + i),
		AccessLogType:               accesslogv3.AccessLogType_DownstreamEnd,
		RouteName:                   "default",
	}
	if inbound {
		cp.DownstreamRemoteAddress = sock("10.44.2.55", uint32(40000+i))
		cp.DownstreamDirectRemoteAddress = sock("10.44.2.55", uint32(40000+i))
		cp.DownstreamLocalAddress = sock("10.44.1.23", 9080)
		cp.UpstreamRemoteAddress = sock("10.44.1.23", 9080)
		cp.UpstreamLocalAddress = sock("127.0.0.6", uint32(50000+i))
		cp.UpstreamCluster = "inbound|9080||"
		cp.TlsProperties = &accesslogv3.TLSProperties{
			TlsVersion:     accesslogv3.TLSProperties_TLSv1_3,
			TlsCipherSuite: wrapperspb.UInt32(0x1301),
			TlsSniHostname: "outbound_.9080_._.reviews.default.svc.cluster.local",
			LocalCertificateProperties: &accesslogv3.TLSProperties_CertificateProperties{
				SubjectAltName: []*accesslogv3.TLSProperties_CertificateProperties_SubjectAltName{
					uriSAN("spiffe://cluster.local/ns/default/sa/bookinfo-reviews"),
				},
			},
			PeerCertificateProperties: &accesslogv3.TLSProperties_CertificateProperties{
				SubjectAltName: []*accesslogv3.TLSProperties_CertificateProperties_SubjectAltName{
					uriSAN("spiffe://cluster.local/ns/default/sa/bookinfo-productpage"),
				},
			},
		}
		cp.FilterStateObjects = map[string]*anypb.Any{FilterStateDownstream: istioPeer("productpage", "v1", "default", i)}
	} else {
		cp.DownstreamRemoteAddress = sock("10.44.2.55", uint32(40000+i))
		cp.DownstreamDirectRemoteAddress = sock("10.44.2.55", uint32(40000+i))
		cp.DownstreamLocalAddress = sock("10.47.247.180", 9080)
		cp.UpstreamRemoteAddress = sock("10.44.1.23", 9080)
		cp.UpstreamLocalAddress = sock("10.44.2.55", uint32(50000+i))
		cp.UpstreamCluster = "outbound|9080||reviews.default.svc.cluster.local"
		cp.FilterStateObjects = map[string]*anypb.Any{FilterStateUpstream: istioPeer("reviews", "v2", "default", i)}
	}
	code := uint32(200)
	if i%10 == 9 {
		code = 503
		cp.ResponseFlags = &accesslogv3.ResponseFlags{UpstreamConnectionFailure: true}
	}
	return &accesslogv3.HTTPAccessLogEntry{
		CommonProperties: cp,
		ProtocolVersion:  accesslogv3.HTTPAccessLogEntry_HTTP11,
		Request: &accesslogv3.HTTPRequestProperties{
			RequestMethod:       corev3.RequestMethod_GET,
			Scheme:              "http",
			Authority:           "reviews:9080",
			Path:                fmt.Sprintf("/reviews/%d", i),
			UserAgent:           "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_4) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/73.0.3683.103 Safari/537.36",
			RequestId:           fmt.Sprintf("5b7a9c1e-2f3d-4a6b-9c8d-%012x", i),
			RequestHeadersBytes: 612,
			RequestHeaders: map[string]string{
				"traceparent":       "00-" + traceID + "-" + spanID + "-01",
				"content-type":      "application/json",
				"x-b3-traceid":      traceID,
				"x-b3-spanid":       spanID,
				"x-b3-parentspanid": fmt.Sprintf("%016x", 0x05e3ac9a4f6e3b90+i),
				"x-b3-sampled":      "1",
			},
		},
		Response: &accesslogv3.HTTPResponseProperties{
			ResponseCode:         wrapperspb.UInt32(code),
			ResponseHeadersBytes: 253,
			ResponseBodyBytes:    379,
			ResponseCodeDetails:  "via_upstream",
		},
	}
}

// istioBatch is one StreamAccessLogsMessage with n Istio entries (no
// identifier: that is sent only in the first message of a stream).
func istioBatch(n int) *alsv3.StreamAccessLogsMessage {
	entries := make([]*accesslogv3.HTTPAccessLogEntry, n)
	for i := range entries {
		entries[i] = istioEntry(i)
	}
	return &alsv3.StreamAccessLogsMessage{
		LogEntries: &alsv3.StreamAccessLogsMessage_HttpLogs{HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{
			LogEntry: entries,
		}},
	}
}

const benchEntries = 100

func benchBatch(b *testing.B) []byte {
	data, err := proto.Marshal(istioBatch(benchEntries))
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func BenchmarkDecodeAccessLogs(b *testing.B) {
	data := benchBatch(b)
	// Steady state: m.Entries has grown to the batch size.
	var m Message
	if err := DecodeAccessLogs(data, &m); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu := benchutil.ThreadCPUTime()
	for b.Loop() {
		if err := DecodeAccessLogs(data, &m); err != nil {
			b.Fatal(err)
		}
	}
	cpu = benchutil.ThreadCPUTime() - cpu
	if len(m.Entries) != benchEntries {
		b.Fatalf("decoded %d entries", len(m.Entries))
	}
	reportPerEntry(b, cpu)
}

// reportPerEntry reports the wall-clock time per entry and, where it can be
// measured, the CPU time per entry (less disturbed by other processes).
func reportPerEntry(b *testing.B, cpu time.Duration) {
	n := float64(b.N * benchEntries)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/entry")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/entry")
	}
}

func BenchmarkProtoUnmarshal(b *testing.B) {
	data := benchBatch(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu := benchutil.ThreadCPUTime()
	for b.Loop() {
		var msg alsv3.StreamAccessLogsMessage
		if err := proto.Unmarshal(data, &msg); err != nil {
			b.Fatal(err)
		}
	}
	// The garbage collector's work runs partly on other threads, so the
	// CPU time of this thread undercounts proto.Unmarshal somewhat.
	reportPerEntry(b, benchutil.ThreadCPUTime()-cpu)
}
