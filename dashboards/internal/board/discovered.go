package board

import (
	"strings"

	"github.com/meshlens/meshlens/dashboards/internal/discover"
)

// DiscoveredFile is the file name of the discovered-topology dashboard.
const DiscoveredFile = "meshlens-discovered.json"

// collapseAbove is the number of services above which the rows start
// collapsed: Grafana then queries a service's panels only when its row is
// opened.
const collapseAbove = 6

// Discovered returns a dashboard with one row per service meshlens has seen
// (discover.Discover): requests, success and latency for HTTP and gRPC
// services, bytes and connections for TCP services.
func Discovered(o Options, services []discover.Service) (Dashboard, error) {
	s := spec{
		file:  DiscoveredFile,
		uid:   "meshlens-discovered",
		title: "meshlens / Discovered services",
		desc:  "One row per service meshlens has seen, generated from its live topology (go run . --discover URL).",
		vars:  append(baseVars(), reporterVar()),
	}
	for _, svc := range services {
		s.rows = append(s.rows, serviceRow(svc, len(services) > collapseAbove))
	}
	return s.build(o)
}

func serviceRow(svc discover.Service, collapsed bool) row {
	scope := []string{eq("reporter", "$reporter"), eq("destination_service", promQLString(svc.Name))}
	name := svc.Name
	r := row{title: name, collapsed: collapsed}
	if svc.HTTP {
		r.panels = append(r.panels,
			timeseriesPanel(name+": requests", "Requests per second to "+name+" by response code.", unitReqps,
				q(sumRate("response_code", requestsTotal, scope...), "{{response_code}}")).stacked().compact(8),
			timeseriesPanel(name+": success rate", "Share of requests to "+name+" that did not end in a 5xx response.", unitPercent,
				q(ratio(sumRate("", requestsTotal, with(scope, not5xx)...), sumRate("", requestsTotal, scope...)), "success")).ratio().compact(8),
			latency(name+": latency", "Median, 90th and 99th percentile duration of requests to "+name+"; the points are exemplars linking to traces.",
				qx(quantile("0.50", "", durationBucket, scope...), "p50"),
				qx(quantile("0.90", "", durationBucket, scope...), "p90"),
				qx(quantile("0.99", "", durationBucket, scope...), "p99")).tracesOf(jaegerService(name)).compact(8),
		)
	}
	if svc.TCP {
		r.panels = append(r.panels,
			timeseriesPanel(name+": TCP throughput", "Bytes per second received from and sent to the clients of "+name+".", unitBps,
				q(sumRate("", tcpReceived, scope...), "received"),
				q(sumRate("", tcpSent, scope...), "sent")).compact(12),
			timeseriesPanel(name+": TCP connections", "TCP connections to "+name+" opened and closed per second.", unitCps,
				q(sumRate("", tcpOpened, scope...), "opened"),
				q(sumRate("", tcpClosed, scope...), "closed")).compact(12),
		)
	}
	return r
}

// promQLString escapes a label value for a double-quoted PromQL string.
func promQLString(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// jaegerService is the service.name of the spans of a service's workloads
// as meshlens names them (their canonical service), for a Kubernetes
// service named like its app, as Istio expects: the first label of
// <name>.<namespace>.svc.<domain>; any other host is taken whole.
func jaegerService(host string) string {
	if name, rest, ok := strings.Cut(host, "."); ok && strings.Contains(rest, ".svc.") {
		return name
	}
	return host
}
