package accesslog

import (
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogdatav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/meshlens/meshlens/internal/captures"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// sample is one real capture, as the binary message Envoy would send.
type sample struct {
	name string
	msg  []byte
}

// realSamples loads every real ALS capture (internal/captures): whole
// StreamAccessLogsMessages, and Envoy's unit-test entries wrapped in a
// message with the identifier of Envoy's own integration test.
func realSamples(t testing.TB) []sample {
	t.Helper()
	sharedALS := captures.Dir(t, "als")
	var out []sample
	whole, err := filepath.Glob(filepath.Join(sharedALS, "skywalking", "clean-json", "*.json"))
	require.NoError(t, err)
	strict, err := filepath.Glob(filepath.Join(sharedALS, "envoy", "*.strict.json"))
	require.NoError(t, err)
	for _, f := range append(whole, strict...) {
		var m alsv3.StreamAccessLogsMessage
		readJSON(t, f, &m)
		out = append(out, sample{name: strings.TrimSuffix(filepath.Base(f), ".json"), msg: marshal(t, &m)})
	}
	entries, err := filepath.Glob(filepath.Join(sharedALS, "envoy", "unit-test-entries", "strict-json", "*.json"))
	require.NoError(t, err)
	for _, f := range entries {
		var e accesslogdatav3.HTTPAccessLogEntry
		readJSON(t, f, &e)
		m := &alsv3.StreamAccessLogsMessage{
			Identifier: &alsv3.StreamAccessLogsMessage_Identifier{
				Node:    &corev3.Node{Id: "node_name", Cluster: "cluster_name"},
				LogName: "foo",
			},
			LogEntries: &alsv3.StreamAccessLogsMessage_HttpLogs{HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{
				LogEntry: []*accesslogdatav3.HTTPAccessLogEntry{&e},
			}},
		}
		out = append(out, sample{name: "unit-" + strings.TrimSuffix(filepath.Base(f), ".json"), msg: marshal(t, m)})
	}
	require.GreaterOrEqual(t, len(out), 12, "expected every real ALS sample")
	return out
}

func readJSON(t testing.TB, path string, m proto.Message) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, m), path)
}

func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	require.NoError(t, err)
	return b
}

// goldenRecord is a Record as the golden files show it.
type goldenRecord struct {
	Kind, Reporter, Protocol                 string
	Source, Destination                      Workload
	Service                                  Service
	SourceFrom, DestinationFrom, ServiceFrom string
	ResponseCode, GRPCStatus, ResponseFlags  string
	SecurityPolicy                           string
	Final                                    bool
	Start                                    string
	DurationMillis                           float64
	RequestBytes, ResponseBytes              uint64
	RequestMessages, ResponseMessages        uint64
	TCP                                      string `json:",omitempty"`
	Trace                                    string `json:",omitempty"`
	NodeID, RequestID, Method, Path          string
	Authority, UpstreamCluster, Peer, Local  string
}

func toGolden(r *Record) goldenRecord {
	g := goldenRecord{
		Kind: map[Kind]string{KindHTTP: "http", KindTCP: "tcp"}[r.Kind], Reporter: r.Reporter.String(),
		Protocol: r.Protocol.String(), Source: r.Source, Destination: r.Destination, Service: r.Service,
		SourceFrom: r.SourceFrom.String(), DestinationFrom: r.DestinationFrom.String(), ServiceFrom: r.ServiceFrom.String(),
		ResponseCode: r.ResponseCodeLabel(), GRPCStatus: r.GRPCStatusLabel(), ResponseFlags: r.Flags.String(),
		SecurityPolicy: r.Security.String(), Final: r.Final,
		Start:          time.Unix(0, r.StartUnixNano).UTC().Format(time.RFC3339Nano),
		DurationMillis: float64(r.DurationNanos) / 1e6,
		RequestBytes:   r.RequestBytes, ResponseBytes: r.ResponseBytes,
		RequestMessages: r.RequestMessages, ResponseMessages: r.ResponseMessages,
		NodeID: r.NodeID, RequestID: string(r.Details.RequestID), Method: r.Details.Method,
		Path: string(r.Details.Path), Authority: string(r.Details.Authority),
		UpstreamCluster: string(r.Details.UpstreamCluster),
		Peer:            string(r.Details.PeerAddress), Local: string(r.Details.LocalAddress),
	}
	if r.Kind == KindTCP {
		g.TCP = strings.Join([]string{
			"opened=" + boolStr(r.TCPOpened), "closed=" + boolStr(r.TCPClosed),
			"sent=" + itoa(r.TCPSentBytes), "received=" + itoa(r.TCPReceivedBytes),
		}, " ")
	}
	if r.Trace.Valid() {
		g.Trace = hex.EncodeToString(r.Trace.TraceID[:]) + "/" + hex.EncodeToString(r.Trace.SpanID[:])
	}
	return g
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

// checkGolden compares got with testdata/golden/<name>.golden.json.
func checkGolden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	require.NoError(t, err)
	b = append(b, '\n')
	path := filepath.Join("testdata", "golden", name+".golden.json")
	if *update {
		require.NoError(t, os.WriteFile(path, b, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file: run go test ./accesslog -run %s -update", t.Name())
	require.Equal(t, string(want), string(b))
}

var testNow = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// TestRealSamplesGolden normalises every real capture and compares the
// records with the golden files.
func TestRealSamplesGolden(t *testing.T) {
	for _, s := range realSamples(t) {
		t.Run(s.name, func(t *testing.T) {
			st := NewStream(Config{}, NewConnTable(100, time.Minute))
			recs, out, err := st.Decode(s.msg, nil, testNow)
			require.NoError(t, err)
			require.Equal(t, out.Entries, out.Processed+out.RejectedTotal())
			g := make([]goldenRecord, len(recs))
			for i := range recs {
				g[i] = toGolden(&recs[i])
			}
			checkGolden(t, s.name, g)
		})
	}
}
