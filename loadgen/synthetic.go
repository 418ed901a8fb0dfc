package loadgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Synthetic returns a generated mesh for load tests: services spread over
// namespaces of ten ("ns-00", "ns-01", …) named "svc-000", "svc-001", …, each
// backed by workloadsPerService workloads "svc-000-v1", … with two pods each;
// an ingress gateway calling svc-000 (and svc-001); one passthrough and one
// ServiceEntry host outside the mesh; and edges call edges in total (capped
// at the number of distinct caller/callee pairs). About 75% of services
// speak HTTP, 15% gRPC and 10% TCP; 90% of edges use mTLS. The same
// arguments always return the same mesh.
func Synthetic(services, workloadsPerService, edges int, seed uint64) Mesh {
	services = max(services, 1)
	workloadsPerService = max(workloadsPerService, 1)
	edges = max(edges, 1)
	r := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	var m Mesh
	m.Namespaces = []string{"istio-system"}
	for i := 0; i < (services+9)/10; i++ {
		m.Namespaces = append(m.Namespaces, fmt.Sprintf("ns-%02d", i))
	}
	ipn := 10 // next pod address: 10.(16+ipn>>16).(ipn>>8).(ipn)
	nextIP := func() string {
		ipn++
		if ipn&0xff == 0 || ipn&0xff == 255 {
			ipn += 2
		}
		return fmt.Sprintf("10.%d.%d.%d", 16+ipn>>16, (ipn>>8)&0xff, ipn&0xff)
	}
	protos := make([]Protocol, services)
	for i := range services {
		ns := m.Namespaces[1+i/10]
		name := fmt.Sprintf("svc-%03d", i)
		p := ProtocolHTTP
		switch x := r.IntN(20); {
		case i < 2: // the gateway's targets are HTTP
		case x < 3:
			p = ProtocolGRPC
		case x < 5:
			p = ProtocolTCP
		}
		protos[i] = p
		port := uint32(8080)
		switch p {
		case ProtocolGRPC:
			port = 9090
		case ProtocolTCP:
			port = 5432
		}
		m.Services = append(m.Services, Service{
			Name: name, Namespace: ns, Port: port,
			VIP: fmt.Sprintf("10.96.%d.%d", (i+1)>>8, (i+1)&0xff),
		})
		for v := 1; v <= workloadsPerService; v++ {
			wname := fmt.Sprintf("%s-v%d", name, v)
			w := Workload{
				Name: wname, Namespace: ns, App: name, Version: fmt.Sprintf("v%d", v),
				ServiceAccount: name, Service: name, UserAgent: "Go-http-client/1.1",
			}
			for k := range 2 {
				w.Pods = append(w.Pods, Pod{Name: podName(wname, k), IP: nextIP()})
			}
			m.Workloads = append(m.Workloads, w)
		}
	}
	m.Services = append(m.Services,
		Service{Name: "api.partner.example.com", Port: 80, VIP: "203.0.113.20", External: ExternalPassthrough},
		Service{Name: "payments.example.net", Port: 443, VIP: "198.51.100.40", External: ExternalServiceEntry},
	)
	m.Workloads = append(m.Workloads, Workload{
		Name: "istio-ingressgateway", Namespace: "istio-system", App: "istio-ingressgateway",
		ServiceAccount: "istio-ingressgateway-service-account", Gateway: true,
		Pods: []Pod{
			{Name: podName("istio-ingressgateway", 0), IP: nextIP()},
			{Name: podName("istio-ingressgateway", 1), IP: nextIP()},
		},
	})

	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	randomEdge := func(from, to string, p Protocol) Edge {
		med := math.Exp(math.Log(0.8) + r.Float64()*math.Log(60)) // 0.8ms..48ms
		e := Edge{
			From: from, To: to, Protocol: p,
			Weight:  math.Exp(r.NormFloat64()),
			MTLS:    r.IntN(10) != 0,
			Latency: Latency{Median: ms(med), P99: ms(med * (3 + 7*r.Float64()))},
			Trace:   TraceStyle(r.IntN(4)),
		}
		switch p {
		case ProtocolHTTP:
			e.Paths = []string{"/api/v1/items", "/api/v1/items/42", "/healthz"}
			e.ResponseBytes = 200 + r.IntN(4000)
			e.Errors.HTTP5xx = r.Float64() * 0.02
			e.Errors.HTTP4xx = r.Float64() * 0.02
			if r.IntN(4) == 0 {
				e.Method, e.RequestBytes = "POST", 100+r.IntN(2000)
			}
		case ProtocolGRPC:
			e.Paths = []string{"/synthetic.v1.Items/Get", "/synthetic.v1.Items/List"}
			e.RequestBytes, e.ResponseBytes = 50+r.IntN(500), 100+r.IntN(3000)
			e.Errors.GRPCError = r.Float64() * 0.03
			if r.IntN(3) == 0 {
				e.Messages = 2 + r.IntN(8)
			}
		case ProtocolTCP:
			e.Latency = Latency{Median: ms(200 + 2000*r.Float64()), P99: ms(5000 + 20000*r.Float64())}
			e.RequestBytes, e.ResponseBytes = 500+r.IntN(5000), 2000+r.IntN(50000)
		}
		if r.IntN(5) == 0 {
			e.Errors.ConnectionFailure = 0.001
		}
		return e
	}

	gw := "istio-system/istio-ingressgateway"
	m.Edges = append(m.Edges, randomEdge(gw, m.Services[0].Ref(), ProtocolHTTP))
	m.Edges[0].Weight, m.Edges[0].Authority = 5, "synthetic.example.com"
	if services > 1 && edges > 1 {
		e := randomEdge(gw, m.Services[1].Ref(), ProtocolHTTP)
		e.Authority = "synthetic.example.com"
		m.Edges = append(m.Edges, e)
	}
	seen := map[[2]int]bool{}
	callers := services * workloadsPerService
	maxEdges := len(m.Edges) + callers*(services-1) + 2*callers
	edges = min(edges, maxEdges)
	for attempts := 0; len(m.Edges) < edges && attempts < 20*edges; attempts++ {
		ci := r.IntN(callers)
		caller := m.Workloads[ci]
		var ti int
		if r.IntN(50) == 0 {
			ti = services + r.IntN(2) // external
		} else {
			ti = r.IntN(services)
			if ti == ci/workloadsPerService {
				continue
			}
		}
		if seen[[2]int{ci, ti}] {
			continue
		}
		seen[[2]int{ci, ti}] = true
		switch ti {
		case services: // passthrough: plain HTTP
			e := randomEdge(caller.Ref(), m.Services[ti].Ref(), ProtocolHTTP)
			e.MTLS = false
			m.Edges = append(m.Edges, e)
		case services + 1: // TLS to a ServiceEntry: TCP at the sidecar
			e := randomEdge(caller.Ref(), m.Services[ti].Ref(), ProtocolTCP)
			e.MTLS = false
			m.Edges = append(m.Edges, e)
		default:
			m.Edges = append(m.Edges, randomEdge(caller.Ref(), m.Services[ti].Ref(), protos[ti]))
		}
	}
	return m
}
