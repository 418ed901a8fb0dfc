package kiali

import (
	"maps"

	"github.com/meshlens/meshlens/topology"
)

// The health of apps, services and workloads in Kiali's shape (kiali/kiali
// models/health.go): request rates per protocol and response code, in and
// out, from which Kiali's UI computes a status with the tolerances of
// HealthConfig (DefaultHealthConfig).

// Requests are request rates per protocol ("http", "grpc") and response
// code ("200", a gRPC status, "-" for no response), per second.
type Requests map[string]map[string]float64

// RequestHealth is Kiali's RequestHealth.
type RequestHealth struct {
	Inbound           Requests          `json:"inbound"`
	Outbound          Requests          `json:"outbound"`
	HealthAnnotations map[string]string `json:"healthAnnotations"`
}

// WorkloadStatus is Kiali's WorkloadStatus: replicas and synced proxies.
// meshlens sees proxies, not pods: a workload seen in the window counts as
// one desired, current and available replica, and SyncedProxies is -1
// (unknown), which Kiali's UI does not check (docs/kiali.md).
type WorkloadStatus struct {
	Name              string `json:"name"`
	DesiredReplicas   int32  `json:"desiredReplicas"`
	CurrentReplicas   int32  `json:"currentReplicas"`
	AvailableReplicas int32  `json:"availableReplicas"`
	SyncedProxies     int32  `json:"syncedProxies"`
}

// WorkloadHealth is Kiali's WorkloadHealth.
type WorkloadHealth struct {
	WorkloadStatus *WorkloadStatus `json:"workloadStatus"`
	Requests       RequestHealth   `json:"requests"`
}

// AppHealth is Kiali's AppHealth.
type AppHealth struct {
	WorkloadStatuses []*WorkloadStatus `json:"workloadStatuses"`
	Requests         RequestHealth     `json:"requests"`
}

// ServiceHealth is Kiali's ServiceHealth.
type ServiceHealth struct {
	Requests RequestHealth `json:"requests"`
}

// seenWorkload is the status meshlens gives a workload it saw.
func seenWorkload(name string) *WorkloadStatus {
	return &WorkloadStatus{Name: name, DesiredReplicas: 1, CurrentReplicas: 1, AvailableReplicas: 1, SyncedProxies: -1}
}

func newRequestHealth() RequestHealth {
	return RequestHealth{Inbound: Requests{}, Outbound: Requests{}, HealthAnnotations: map[string]string{}}
}

func (r Requests) add(protocol, code string, v float64) {
	m := r[protocol]
	if m == nil {
		m = map[string]float64{}
		r[protocol] = m
	}
	m[code] += v
}

// nodeRequests sums, per node id of s, the request rates of its edges in
// (Inbound) and out (Outbound), per protocol and response code, over the
// snapshot's first window. TCP has no requests: Kiali's health reads
// istio_requests_total only.
func nodeRequests(s *topology.Snapshot) map[string]*RequestHealth {
	out := map[string]*RequestHealth{}
	covered := 0.0
	if len(s.Windows) > 0 {
		covered = s.Windows[0].CoveredSeconds
	}
	get := func(id string) *RequestHealth {
		r := out[id]
		if r == nil {
			rh := newRequestHealth()
			r = &rh
			out[id] = r
		}
		return r
	}
	for i := range s.Edges {
		e := &s.Edges[i]
		src, dst := get(e.Source), get(e.Target)
		if e.Protocol == "tcp" || len(e.Stats) == 0 || covered <= 0 {
			continue
		}
		for _, resp := range e.Stats[0].Responses {
			v := resp.Requests / covered
			if v <= 0 {
				continue
			}
			dst.Inbound.add(e.Protocol, resp.Code, v)
			src.Outbound.add(e.Protocol, resp.Code, v)
		}
	}
	return out
}

// NamespaceHealth returns the health of every node of kind ("app",
// "service" or "workload") in namespace ns, by name, as Kiali's
// /api/namespaces/{ns}/health?type=kind answers it. s is a snapshot of one
// window at the granularity of kind (App, Service, Workload); workloads, a
// snapshot at Workload granularity, names the workloads of each app
// (AppHealth.WorkloadStatuses; nil for other kinds).
func NamespaceHealth(s *topology.Snapshot, workloads *topology.Snapshot, ns, kind string) map[string]any {
	reqs := nodeRequests(s)
	out := map[string]any{}
	appWorkloads := map[string][]*WorkloadStatus{}
	if workloads != nil {
		for i := range workloads.Nodes {
			n := &workloads.Nodes[i]
			if n.Type == topology.NodeWorkload && n.Namespace == ns && n.App != "" && n.App != "unknown" {
				appWorkloads[n.App] = append(appWorkloads[n.App], seenWorkload(n.Workload))
			}
		}
	}
	for i := range s.Nodes {
		n := &s.Nodes[i]
		if n.Namespace != ns {
			continue
		}
		rh := newRequestHealth()
		if r := reqs[n.ID]; r != nil {
			rh = *r
		}
		switch {
		case kind == "workload" && n.Type == topology.NodeWorkload && n.Workload != "unknown":
			out[n.Workload] = &WorkloadHealth{WorkloadStatus: seenWorkload(n.Workload), Requests: rh}
		case kind == "app" && n.Type == topology.NodeApp && n.App != "unknown":
			if h, ok := out[n.App].(*AppHealth); ok { // versions of one app
				mergeRequests(h.Requests.Inbound, rh.Inbound)
				mergeRequests(h.Requests.Outbound, rh.Outbound)
				continue
			}
			ws := appWorkloads[n.App]
			if ws == nil {
				ws = []*WorkloadStatus{}
			}
			out[n.App] = &AppHealth{WorkloadStatuses: ws, Requests: rh}
		case kind == "service" && n.Type == topology.NodeService && !n.EgressCluster:
			rh.Outbound = Requests{} // Kiali's service health is inbound only
			out[n.Service] = &ServiceHealth{Requests: rh}
		}
	}
	return out
}

func mergeRequests(dst, src Requests) {
	for p, codes := range src {
		if dst[p] == nil {
			dst[p] = maps.Clone(codes)
			continue
		}
		for c, v := range codes {
			dst[p][c] += v
		}
	}
}

// nodeHealth is the health appender's healthData of a graph node: the
// health of what the node stands for, from the graph's own edges.
func nodeHealth(n *topology.Node, r *RequestHealth) any {
	rh := newRequestHealth()
	if r != nil {
		rh = *r
	}
	switch n.Type {
	case topology.NodeWorkload:
		if n.Workload == "" || n.Workload == "unknown" {
			return nil
		}
		return &WorkloadHealth{WorkloadStatus: seenWorkload(n.Workload), Requests: rh}
	case topology.NodeApp:
		if n.App == "" || n.App == "unknown" {
			return nil
		}
		if n.Workload != "" { // a versioned app node: its workload's health
			return &WorkloadHealth{WorkloadStatus: seenWorkload(n.Workload), Requests: rh}
		}
		return &AppHealth{WorkloadStatuses: []*WorkloadStatus{}, Requests: rh}
	case topology.NodeService:
		if n.Namespace == "unknown" || n.EgressCluster {
			return nil
		}
		rh.Outbound = Requests{}
		return &ServiceHealth{Requests: rh}
	}
	return nil
}

// HealthConfig is Kiali's health_config: the error-rate tolerances its UI
// applies to RequestHealth.
type HealthConfig struct {
	Rate []RateConfig `json:"rate"`
}

// RateConfig is one rule of HealthConfig.
type RateConfig struct {
	Namespace string      `json:"namespace,omitempty"`
	Kind      string      `json:"kind,omitempty"`
	Name      string      `json:"name,omitempty"`
	Tolerance []Tolerance `json:"tolerance"`
}

// Tolerance is a percentage of requests with a code matching Code (a
// regular expression, "5XX" standing for 5\d\d) from which a node is
// Degraded or Failure.
type Tolerance struct {
	Code      string  `json:"code"`
	Degraded  float64 `json:"degraded"`
	Failure   float64 `json:"failure"`
	Protocol  string  `json:"protocol"`
	Direction string  `json:"direction"`
}

// DefaultHealthConfig is Kiali's default (kiali/kiali config/config.go
// AddHealthDefault): HTTP 5xx fail at 10 %; 4xx degrade at 10 %, fail at
// 20 %; gRPC errors and no response fail at 10 %.
func DefaultHealthConfig() HealthConfig {
	return HealthConfig{Rate: []RateConfig{{Tolerance: []Tolerance{
		{Code: "5XX", Protocol: "http", Direction: ".*", Failure: 10},
		{Code: "4XX", Protocol: "http", Direction: ".*", Degraded: 10, Failure: 20},
		{Code: "^[1-9]$|^1[0-6]$", Protocol: "grpc", Direction: ".*", Failure: 10},
		{Code: "^-$", Protocol: "http|grpc", Direction: ".*", Failure: 10},
	}}}}
}

// EmptyHealth is the health of an app, service or workload meshlens has
// not seen in the window: no requests, and a workload has no replica.
func EmptyHealth(kind, name string) any {
	switch kind {
	case "workload":
		return &WorkloadHealth{WorkloadStatus: &WorkloadStatus{Name: name, SyncedProxies: -1}, Requests: newRequestHealth()}
	case "app":
		return &AppHealth{WorkloadStatuses: []*WorkloadStatus{}, Requests: newRequestHealth()}
	}
	return &ServiceHealth{Requests: newRequestHealth()}
}
