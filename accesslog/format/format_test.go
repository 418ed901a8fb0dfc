package format

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/accesslog/entry"
)

func ms(t string) int64 {
	v, err := time.Parse(time.RFC3339Nano, t)
	if err != nil {
		panic(err)
	}
	return v.UnixNano()
}

func addr(host string, port uint32) entry.Address {
	return entry.Address{Kind: entry.AddressSocket, Host: []byte(host), Port: port}
}

// Lines in the shape of published examples of Istio's default format
// (istio.io's "Envoy Access Logs" task: sleep calling httpbin, both
// sidecars; blog posts' TCP and failure lines); the expected entries are
// written by hand from Envoy's operator definitions.
var istioDefaultCases = []struct {
	name string
	line string
	want entry.Entry
}{
	{
		name: "client side (outbound), httpbin 418",
		line: `[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 4 4 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:80" outbound|8000||httpbin.foo.svc.cluster.local 10.44.1.23:37652 10.0.45.184:8000 10.44.1.23:46520 - default`,
		want: entry.Entry{
			HasCommon: true, HasStartTime: true, StartTime: ms("2020-11-25T21:26:18.409Z"),
			HasRequest: true, Method: 1, Path: []byte("/status/418"), ProtocolVersion: 2,
			HasResponse: true, HasResponseCode: true, ResponseCode: 418, ResponseCodeDetails: []byte("via_upstream"),
			ResponseBodyBytes: 135, TCPSentBytes: 135, HasDuration: true, Duration: 4 * int64(time.Millisecond),
			UserAgent: []byte("curl/7.73.0-DEV"), RequestID: []byte("84961386-6d84-929d-98bd-c5aee93b5c88"),
			Authority: []byte("httpbin:8000"), UpstreamRemote: addr("10.44.1.27", 80),
			UpstreamCluster: []byte("outbound|8000||httpbin.foo.svc.cluster.local"), UpstreamLocal: addr("10.44.1.23", 37652),
			DownstreamLocal: addr("10.0.45.184", 8000), DownstreamRemote: addr("10.44.1.23", 46520), RouteName: []byte("default"),
		},
	},
	{
		name: "server side (inbound), the same request",
		line: `[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 3 1 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "127.0.0.1:80" inbound|8000|| 127.0.0.1:41854 10.44.1.27:80 10.44.1.23:37652 outbound_.8000_._.httpbin.foo.svc.cluster.local default`,
		want: entry.Entry{
			HasCommon: true, HasStartTime: true, StartTime: ms("2020-11-25T21:26:18.409Z"),
			HasRequest: true, Method: 1, Path: []byte("/status/418"), ProtocolVersion: 2,
			HasResponse: true, HasResponseCode: true, ResponseCode: 418, ResponseCodeDetails: []byte("via_upstream"),
			ResponseBodyBytes: 135, TCPSentBytes: 135, HasDuration: true, Duration: 3 * int64(time.Millisecond),
			UserAgent: []byte("curl/7.73.0-DEV"), RequestID: []byte("84961386-6d84-929d-98bd-c5aee93b5c88"),
			Authority: []byte("httpbin:8000"), UpstreamRemote: addr("127.0.0.1", 80),
			UpstreamCluster: []byte("inbound|8000||"), UpstreamLocal: addr("127.0.0.1", 41854),
			DownstreamLocal: addr("10.44.1.27", 80), DownstreamRemote: addr("10.44.1.23", 37652),
			SNI: []byte("outbound_.8000_._.httpbin.foo.svc.cluster.local"), RouteName: []byte("default"),
		},
	},
	{
		name: "connection failure: no response, flags, transport failure reason, no upstream",
		line: `[2026-02-24T14:23:15.456Z] "POST /api/orders HTTP/1.1" 503 UF,URX upstream_reset_before_response_started{connection_failure} - "delayed connect error: 111" 156 91 30004 - "10.1.2.3" "python-requests/2.31.0" "f47ac10b-58cc-4372-a567-0e02b2c3d479" "order-service.production.svc.cluster.local" "10.244.3.12:8080" outbound|8080||order-service.production.svc.cluster.local - 10.96.45.67:8080 10.244.1.5:33210 - default`,
		want: entry.Entry{
			HasCommon: true, HasStartTime: true, StartTime: ms("2026-02-24T14:23:15.456Z"),
			HasRequest: true, Method: 3, Path: []byte("/api/orders"), ProtocolVersion: 2,
			HasResponse: true, HasResponseCode: true, ResponseCode: 503, ResponseFlags: 1<<6 | 1<<16,
			ResponseCodeDetails:            []byte("upstream_reset_before_response_started{connection_failure}"),
			UpstreamTransportFailureReason: []byte("delayed connect error: 111"),
			RequestBodyBytes:               156, TCPReceivedBytes: 156, ResponseBodyBytes: 91, TCPSentBytes: 91,
			HasDuration: true, Duration: 30004 * int64(time.Millisecond), ForwardedFor: []byte("10.1.2.3"),
			UserAgent: []byte("python-requests/2.31.0"), RequestID: []byte("f47ac10b-58cc-4372-a567-0e02b2c3d479"),
			Authority: []byte("order-service.production.svc.cluster.local"), UpstreamRemote: addr("10.244.3.12", 8080),
			UpstreamCluster: []byte("outbound|8080||order-service.production.svc.cluster.local"),
			DownstreamLocal: addr("10.96.45.67", 8080), DownstreamRemote: addr("10.244.1.5", 33210), RouteName: []byte("default"),
		},
	},
	{
		name: "TCP connection: no request, no response, IPv6 peers",
		line: `[2023-05-02T08:01:02.003Z] "- - -" 0 - - - "-" 1234 5678 95 - "-" "-" "-" "-" "[fd00::12]:3306" outbound|3306||mysqldb.default.svc.cluster.local [fd00::7]:52110 [fd00::99]:3306 [fd00::7]:40770 - -`,
		want: entry.Entry{
			HasCommon: true, HasStartTime: true, StartTime: ms("2023-05-02T08:01:02.003Z"),
			RequestBodyBytes: 1234, TCPReceivedBytes: 1234, ResponseBodyBytes: 5678, TCPSentBytes: 5678,
			HasDuration: true, Duration: 95 * int64(time.Millisecond), UpstreamRemote: addr("fd00::12", 3306),
			UpstreamCluster: []byte("outbound|3306||mysqldb.default.svc.cluster.local"), UpstreamLocal: addr("fd00::7", 52110),
			DownstreamLocal: addr("fd00::99", 3306), DownstreamRemote: addr("fd00::7", 40770),
		},
	},
	{
		name: "no route: everything after the request is dashes",
		line: `[2022-10-23T20:38:15.413Z] "GET /nope HTTP/2" 404 NR route_not_found - "-" 0 0 0 - "-" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36" "3ce3e159-9dba-4617-9e85-feb1106a682c" "nginx" "-" - - 10.0.0.5:80 10.0.0.10:34567 - -`,
		want: entry.Entry{
			HasCommon: true, HasStartTime: true, StartTime: ms("2022-10-23T20:38:15.413Z"),
			HasRequest: true, Method: 1, Path: []byte("/nope"), ProtocolVersion: 3,
			HasResponse: true, HasResponseCode: true, ResponseCode: 404, ResponseFlags: 1 << 9,
			ResponseCodeDetails: []byte("route_not_found"), HasDuration: true,
			UserAgent: []byte("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"), RequestID: []byte("3ce3e159-9dba-4617-9e85-feb1106a682c"),
			Authority: []byte("nginx"), DownstreamLocal: addr("10.0.0.5", 80), DownstreamRemote: addr("10.0.0.10", 34567),
		},
	},
}

// envoyDefault is Envoy's own default format (no format given), as its
// access-log documentation states it.
const envoyDefault = `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" ` +
	`%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ` +
	`%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" ` +
	`"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"` + "\n"

// TestParseEnvoyDefault: lines of plain Envoy's default format: the
// example line of Envoy's access-log documentation (its upstream host
// written as the URL Envoy before 1.8 wrote), a user agent with quotes in
// it (Envoy writes a value as it is, not escaped), and a request that
// found no route (dashes, no upstream).
func TestParseEnvoyDefault(t *testing.T) {
	f, err := Compile(envoyDefault)
	require.NoError(t, err)
	for _, c := range []struct {
		name, line string
		want       entry.Entry
	}{
		{
			name: "Envoy's documentation example",
			line: `[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" "tcp://10.0.2.1:80"`,
			want: entry.Entry{
				HasCommon: true, HasStartTime: true, StartTime: ms("2016-04-15T20:17:00.310Z"),
				HasRequest: true, Method: 3, Path: []byte("/api/v1/locations"), ProtocolVersion: 3,
				HasResponse: true, HasResponseCode: true, ResponseCode: 204,
				RequestBodyBytes: 154, TCPReceivedBytes: 154, HasDuration: true, Duration: 226 * int64(time.Millisecond),
				ForwardedFor: []byte("10.0.35.28"), UserAgent: []byte("nsq2http"),
				RequestID: []byte("cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2"), Authority: []byte("locations"),
				UpstreamRemote: addr("10.0.2.1", 80),
			},
		},
		{
			name: "quotes inside a quoted value",
			line: `[2024-03-01T10:00:00.000Z] "GET /search?q=%22x%22 HTTP/1.1" 200 - 0 512 12 11 "-" "agent "quoted" 1.0" "a3c1c0de-0000-4000-8000-000000000001" "api.example.com" "10.1.0.7:8080"`,
			want: entry.Entry{
				HasCommon: true, HasStartTime: true, StartTime: ms("2024-03-01T10:00:00.000Z"),
				HasRequest: true, Method: 1, Path: []byte("/search?q=%22x%22"), ProtocolVersion: 2,
				HasResponse: true, HasResponseCode: true, ResponseCode: 200,
				ResponseBodyBytes: 512, TCPSentBytes: 512, HasDuration: true, Duration: 12 * int64(time.Millisecond),
				UserAgent: []byte(`agent "quoted" 1.0`), RequestID: []byte("a3c1c0de-0000-4000-8000-000000000001"),
				Authority: []byte("api.example.com"), UpstreamRemote: addr("10.1.0.7", 8080),
			},
		},
		{
			name: "no route: dashes",
			line: `[2024-03-01T10:00:01.000Z] "GET /nope HTTP/1.1" 404 NR 0 0 0 - "-" "curl/8.5.0" "b4d2d1ef-0000-4000-8000-000000000002" "api.example.com" "-"`,
			want: entry.Entry{
				HasCommon: true, HasStartTime: true, StartTime: ms("2024-03-01T10:00:01.000Z"),
				HasRequest: true, Method: 1, Path: []byte("/nope"), ProtocolVersion: 2,
				HasResponse: true, HasResponseCode: true, ResponseCode: 404, ResponseFlags: 1 << 9, HasDuration: true,
				UserAgent: []byte("curl/8.5.0"), RequestID: []byte("b4d2d1ef-0000-4000-8000-000000000002"),
				Authority: []byte("api.example.com"),
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			var e entry.Entry
			require.NoError(t, f.Parse([]byte(c.line+"\n"), &e, nil))
			assert.Equal(t, c.want, e)
		})
	}
}

func TestParseIstioDefault(t *testing.T) {
	f, err := Compile(IstioDefault)
	require.NoError(t, err)
	for _, c := range istioDefaultCases {
		t.Run(c.name, func(t *testing.T) {
			var e entry.Entry
			require.NoError(t, f.Parse([]byte(c.line+"\n"), &e, nil))
			assert.Equal(t, c.want, e)
		})
	}
}

// TestIstioLinesNormalise: the lines become the records an ALS entry with
// the same fields gives: reporter from the cluster name, destination
// service from it, code, flags, duration, the TCP connection as TCP.
func TestIstioLinesNormalise(t *testing.T) {
	f, err := Compile(IstioDefault)
	require.NoError(t, err)
	md, err := structpb.NewStruct(map[string]any{
		"NAMESPACE": "foo", "WORKLOAD_NAME": "sleep", "CLUSTER_ID": "Kubernetes",
		"LABELS": map[string]any{"app": "sleep", "service.istio.io/canonical-name": "sleep"},
	})
	require.NoError(t, err)
	st := accesslog.NewStream(accesslog.Config{}, accesslog.NewConnTable(1000, time.Hour))
	st.SetProxy(accesslog.NewProxy("sidecar~10.44.1.23~sleep-5d9c.foo~foo.svc.cluster.local", "sleep.foo", md))
	entries := make([]entry.Entry, len(istioDefaultCases))
	for i, c := range istioDefaultCases {
		require.NoError(t, f.Parse([]byte(c.line), &entries[i], nil))
	}
	recs, out, err := st.Normalize(entries, nil, time.Unix(1e9, 0))
	require.NoError(t, err)
	require.Equal(t, len(entries), out.Processed)
	want := []struct {
		kind     accesslog.Kind
		reporter accesslog.Reporter
		service  string
		code     uint32
		flags    string
		final    bool
	}{
		{accesslog.KindHTTP, accesslog.ReporterSource, "httpbin.foo.svc.cluster.local", 418, "-", true},
		{accesslog.KindHTTP, accesslog.ReporterDestination, "", 418, "-", true},
		{accesslog.KindHTTP, accesslog.ReporterSource, "order-service.production.svc.cluster.local", 503, "UF,URX", true},
		{accesslog.KindTCP, accesslog.ReporterSource, "mysqldb.default.svc.cluster.local", 0, "-", true},
		// No upstream cluster: a sidecar's request that found no route is
		// its outbound side, as for an ALS entry without one.
		{accesslog.KindHTTP, accesslog.ReporterSource, "", 404, "NR", true},
	}
	for i, w := range want {
		r := recs[i]
		assert.Equal(t, w.kind, r.Kind, "line %d", i)
		assert.Equal(t, w.reporter, r.Reporter, "line %d", i)
		if w.service != "" {
			assert.Equal(t, w.service, r.Service.Host, "line %d", i)
		}
		assert.Equal(t, w.code, r.ResponseCode, "line %d", i)
		assert.Equal(t, w.flags, r.Flags.String(), "line %d", i)
		assert.Equal(t, w.final, r.Final, "line %d", i)
	}
	assert.Equal(t, "sleep", recs[0].Source.Name, "the reporting sidecar is the client")
	assert.Equal(t, int64(4*time.Millisecond), recs[0].DurationNanos)
	assert.Equal(t, uint64(5678), recs[3].TCPSentBytes)
}

func TestParseJSON(t *testing.T) {
	f, err := CompileJSON(IstioJSON)
	require.NoError(t, err)
	// Istio's JSON encoding, as a published example shows it (keys in any
	// order, numbers unquoted, null for absent), with a user agent that
	// carries escaped quotes and a unicode escape.
	line := `{"response_code_details":"via_upstream","downstream_remote_address":"10.0.0.10:34567","downstream_local_address":"10.0.0.5:80",` +
		`"request_id":"e2873f51-0a42-4da4-a8e8-f711b46dea5c","authority":"nginx","requested_server_name":"outbound_.80_._.nginx.default.svc.cluster.local",` +
		`"upstream_cluster":"inbound|80||","path":"/","bytes_sent":37,"user_agent":"say \"hi\" \u00e9","method":"GET","upstream_local_address":"127.0.0.1:41854",` +
		`"x_forwarded_for":null,"start_time":"2022-10-23T22:15:39.663Z","response_code":200,"upstream_transport_failure_reason":null,"duration":0,` +
		`"upstream_service_time":"0","response_flags":"-","upstream_host":"127.0.0.1:80","route_name":"default","bytes_received":0,"protocol":"HTTP/1.1",` +
		`"connection_termination_details":null,"pod_name":"nginx-1"}`
	var e entry.Entry
	require.NoError(t, f.Parse([]byte(line), &e, nil))
	want := entry.Entry{
		HasCommon: true, HasStartTime: true, StartTime: ms("2022-10-23T22:15:39.663Z"),
		HasRequest: true, Method: 1, Path: []byte("/"), ProtocolVersion: 2,
		HasResponse: true, HasResponseCode: true, ResponseCode: 200, ResponseCodeDetails: []byte("via_upstream"),
		ResponseBodyBytes: 37, TCPSentBytes: 37, HasDuration: true, UserAgent: []byte(`say "hi" é`),
		RequestID: []byte("e2873f51-0a42-4da4-a8e8-f711b46dea5c"), Authority: []byte("nginx"),
		UpstreamRemote: addr("127.0.0.1", 80), UpstreamCluster: []byte("inbound|80||"), UpstreamLocal: addr("127.0.0.1", 41854),
		DownstreamLocal: addr("10.0.0.5", 80), DownstreamRemote: addr("10.0.0.10", 34567),
		SNI: []byte("outbound_.80_._.nginx.default.svc.cluster.local"), RouteName: []byte("default"),
	}
	assert.Equal(t, want, e)

	// A surrogate pair is one rune; a lone half is replaced.
	require.NoError(t, f.Parse([]byte(`{"path":"/\ud83d\ude00","user_agent":"a\ud800b"}`), &e, nil))
	assert.Equal(t, "/😀", string(e.Path))
	assert.Equal(t, "a\uFFFDb", string(e.UserAgent))

	// %ENVIRONMENT(...)% keys come back to the caller.
	withPod := map[string]string{"pod_name": "%ENVIRONMENT(POD_NAME)%", "pod_namespace": "%ENVIRONMENT(POD_NAMESPACE)%", "code": "%RESPONSE_CODE%"}
	f, err = CompileJSON(withPod)
	require.NoError(t, err)
	var env Values
	require.NoError(t, f.Parse([]byte(`{"pod_name":"nginx-1","code":"201","pod_namespace":"web"}`), &e, &env))
	assert.Equal(t, "nginx-1", string(env.Get("POD_NAME")))
	assert.Equal(t, "web", string(env.Get("POD_NAMESPACE")))
	assert.Equal(t, uint32(201), e.ResponseCode)
}

func TestErrors(t *testing.T) {
	for _, c := range []struct {
		name, format, line string
		err                error
	}{
		{"adjacent operators", "%START_TIME%%DURATION%", "", ErrFormat},
		{"unclosed operator", "%START_TIME", "", ErrFormat},
		{"unclosed argument", "%REQ(:PATH %", "", ErrFormat},
		{"lone percent", "100% done", "", ErrFormat},
		{"literal missing", "[%START_TIME%] %DURATION%", "2020-11-25T21:26:18.409Z 3", ErrMismatch},
		{"separator missing", "%RESPONSE_CODE% %DURATION%", "200", ErrMismatch},
		{"trailing bytes", "[%RESPONSE_CODE%]", "[200]x", ErrMismatch},
		{"code not a number", "%RESPONSE_CODE% x", "2oo x", ErrValue},
		{"unknown flag skipped", "%RESPONSE_FLAGS% x", "UF,XYZ x", nil},
		{"empty flag", "%RESPONSE_FLAGS% x", "UF, x", ErrValue},
		{"bad time", "%START_TIME% x", "yesterday x", ErrValue},
		{"duration beyond 30 days: the normaliser clamps it", "%DURATION% x", "99999999999 x", nil},
		{"duration not a number", "%DURATION% x", "12ms x", ErrValue},
		{"percent ok", "%RESPONSE_CODE% 100%%", "200 100%", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := Compile(c.format)
			if errors.Is(c.err, ErrFormat) {
				require.ErrorIs(t, err, ErrFormat)
				return
			}
			require.NoError(t, err)
			var e entry.Entry
			err = f.Parse([]byte(c.line), &e, nil)
			if c.err == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, c.err)
		})
	}
	jf, err := CompileJSON(IstioJSON)
	require.NoError(t, err)
	for _, line := range []string{`[1]`, `{"method":`, `{"method":"GET"`, `{"method":{"x":1}}`, `{"a":1} x`, `{"method":"\q"}`, `{"response_code":"abc"}`} {
		var e entry.Entry
		assert.Error(t, jf.Parse([]byte(line), &e, nil), line)
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	f, err := Compile(IstioDefault)
	require.NoError(t, err)
	jf, err := CompileJSON(IstioJSON)
	require.NoError(t, err)
	line := []byte(istioDefaultCases[2].line)
	jline := []byte(`{"method":"GET","path":"/a","response_code":200,"user_agent":"x \"y\"","duration":3}`)
	jbuf := make([]byte, len(jline))
	var e entry.Entry
	var env Values
	allocs := testing.AllocsPerRun(100, func() {
		if err := f.Parse(line, &e, &env); err != nil {
			t.Fatal(err)
		}
		copy(jbuf, jline) // Parse unescapes in place
		if err := jf.Parse(jbuf, &e, &env); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

func BenchmarkParse(b *testing.B) {
	f, err := Compile(IstioDefault)
	require.NoError(b, err)
	jf, err := CompileJSON(IstioJSON)
	require.NoError(b, err)
	text := []byte(istioDefaultCases[0].line)
	b.Run("istio-text", func(b *testing.B) {
		var e entry.Entry
		b.ReportAllocs()
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			if err := f.Parse(text, &e, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	jline := []byte(`{"start_time":"2020-11-25T21:26:18.409Z","method":"GET","path":"/status/418","protocol":"HTTP/1.1","response_code":418,` +
		`"response_flags":"-","response_code_details":"via_upstream","bytes_received":0,"bytes_sent":135,"duration":4,"user_agent":"curl/7.73.0-DEV",` +
		`"request_id":"84961386-6d84-929d-98bd-c5aee93b5c88","authority":"httpbin:8000","upstream_host":"10.44.1.27:80",` +
		`"upstream_cluster":"outbound|8000||httpbin.foo.svc.cluster.local","upstream_local_address":"10.44.1.23:37652",` +
		`"downstream_local_address":"10.0.45.184:8000","downstream_remote_address":"10.44.1.23:46520","route_name":"default"}`)
	buf := make([]byte, len(jline))
	b.Run("istio-json", func(b *testing.B) {
		var e entry.Entry
		b.ReportAllocs()
		b.SetBytes(int64(len(jline)))
		for b.Loop() {
			copy(buf, jline)
			if err := jf.Parse(buf, &e, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
