package discover

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const exposition = `# HELP istio_requests_total Requests.
# TYPE istio_requests_total counter
istio_requests_total{reporter="destination",destination_service="reviews.default.svc.cluster.local",response_code="200"} 7
istio_requests_total{reporter="source",destination_service="reviews.default.svc.cluster.local",response_code="503"} 1
istio_requests_total{reporter="source",destination_service="unknown",response_code="503"} 1
istio_requests_total{reporter="source",destination_service="we\"ird\\host",response_code="200"} 1
istio_request_duration_milliseconds_bucket{reporter="source",destination_service="ratings.default.svc.cluster.local",le="5"} 3
istio_tcp_connections_opened_total{reporter="destination",destination_service="mongodb.default.svc.cluster.local"} 2
istio_tcp_connections_opened_total{destination_service="reviews.default.svc.cluster.local",reporter="source"} 2
meshlens_receiver_entries_received_total 12
`

var wantServices = []Service{
	{Name: "mongodb.default.svc.cluster.local", TCP: true},
	{Name: "reviews.default.svc.cluster.local", HTTP: true, TCP: true},
	{Name: `we"ird\host`, HTTP: true},
}

func TestFromMetrics(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []Service
		err  error
	}{
		{name: "exposition", in: exposition, want: wantServices},
		{name: "empty", in: "", want: []Service{}},
		{name: "no labels", in: "istio_requests_total{} 1\n", want: []Service{}},
		{name: "unterminated value", in: `istio_requests_total{destination_service="x} 1` + "\n", err: ErrMalformed},
		{name: "no equals", in: `istio_requests_total{destination_service} 1` + "\n", err: ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromMetrics(strings.NewReader(tc.in))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// fakeMeshlens serves an exposition on /metrics and nothing else.
func fakeMeshlens(t *testing.T, body string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(s.Close)
	return s
}

// FakePrometheus answers the build information and the two discovery
// queries the way Prometheus's HTTP API does.
func fakePrometheus(t *testing.T, answers map[string]string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/status/buildinfo":
			_, _ = w.Write([]byte(`{"status":"success","data":{"version":"2.42.0"}}`))
		case "/api/v1/query":
			a, ok := answers[r.URL.Query().Get("query")]
			if !ok {
				http.Error(w, `{"status":"error","errorType":"bad_data","error":"unexpected query"}`, http.StatusBadRequest)
				return
			}
			_, _ = w.Write([]byte(a))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// PrometheusAnswers are Prometheus's answers for the Bookinfo-like mesh of
// exposition.
var prometheusAnswers = map[string]string{
	"group by (destination_service) (istio_requests_total)": `{"status":"success","data":{"resultType":"vector","result":[
		{"metric":{"destination_service":"reviews.default.svc.cluster.local"},"value":[1,"1"]},
		{"metric":{"destination_service":"unknown"},"value":[1,"1"]},
		{"metric":{"destination_service":"we\"ird\\host"},"value":[1,"1"]}]}}`,
	"group by (destination_service) (istio_tcp_connections_opened_total)": `{"status":"success","data":{"resultType":"vector","result":[
		{"metric":{"destination_service":"mongodb.default.svc.cluster.local"},"value":[1,"1"]},
		{"metric":{"destination_service":"reviews.default.svc.cluster.local"},"value":[1,"1"]}]}}`,
}

func TestDiscover(t *testing.T) {
	meshlens := fakeMeshlens(t, exposition)
	prom := fakePrometheus(t, prometheusAnswers)
	broken := fakePrometheus(t, map[string]string{
		"group by (destination_service) (istio_requests_total)": `{"status":"success","data":{"resultType":"matrix","result":[]}}`,
	})
	garbage := fakePrometheus(t, map[string]string{
		"group by (destination_service) (istio_requests_total)": `not json`,
	})
	for _, tc := range []struct {
		name string
		url  string
		from Source
		want []Service
		err  bool
	}{
		{name: "meshlens, auto", url: meshlens.URL, from: Auto, want: wantServices},
		{name: "meshlens, trailing slash", url: meshlens.URL + "/", from: Meshlens, want: wantServices},
		{name: "prometheus, auto", url: prom.URL, from: Auto, want: wantServices},
		{name: "prometheus", url: prom.URL, from: Prometheus, want: wantServices},
		{name: "prometheus asked as meshlens", url: prom.URL, from: Meshlens, err: true},
		{name: "meshlens asked as prometheus", url: meshlens.URL, from: Prometheus, err: true},
		{name: "unexpected result type", url: broken.URL, from: Prometheus, err: true},
		{name: "not JSON", url: garbage.URL, from: Prometheus, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Discover(context.Background(), http.DefaultClient, tc.url, tc.from)
			if tc.err {
				if err == nil {
					t.Fatalf("no error, got %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseSource(t *testing.T) {
	for _, s := range []string{"auto", "meshlens", "prometheus"} {
		if got, err := ParseSource(s); err != nil || string(got) != s {
			t.Errorf("ParseSource(%q) = %q, %v", s, got, err)
		}
	}
	if _, err := ParseSource("grafana"); err == nil {
		t.Error("ParseSource(grafana): no error")
	}
}
