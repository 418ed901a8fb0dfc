package meshtest

import (
	"strconv"
	"time"

	"github.com/meshlens/meshlens/accesslog"
)

// Large returns the calls of a large synthetic mesh for benchmarks:
// services services in namespaces of 50, one workload each, and every
// workload calling perWorkload distinct other services (services ×
// perWorkload edges), one call per edge reported by both sides. One call
// in ten is gRPC, one in twenty TCP, one in fifty a 503.
func Large(services, perWorkload int) []Call {
	wls := make([]accesslog.Workload, services)
	svcs := make([]accesslog.Service, services)
	for i := range services {
		ns := "ns-" + strconv.Itoa(i/50)
		name := "svc-" + strconv.Itoa(i)
		wls[i] = Workload(ns, name+"-v1", name, "v1")
		svcs[i] = Service(ns, name)
	}
	calls := make([]Call, 0, services*perWorkload)
	for i := range services {
		for k := range perWorkload {
			j := (i + 1 + k*(services/perWorkload+1)) % services
			if j == i {
				j = (j + 1) % services
			}
			c := Call{
				From: wls[i], To: wls[j], Service: svcs[j], Protocol: accesslog.ProtocolHTTP,
				Code: 200, GRPC: -1, Duration: time.Duration(1+(i+k)%200) * time.Millisecond,
				ReqBytes: 300, RespBytes: 2000, Sides: BothSides, MTLS: true, Count: 1,
			}
			n := len(calls)
			switch {
			case n%20 == 7:
				c.Protocol = accesslog.ProtocolTCP
			case n%10 == 3:
				c.Protocol, c.GRPC = accesslog.ProtocolGRPC, 0
			case n%50 == 11:
				c.Code = 503
			}
			calls = append(calls, c)
		}
	}
	return calls
}

// LargeRecords returns the records of Large: per call the client's then
// the server's.
func LargeRecords(services, perWorkload int) []accesslog.Record {
	calls := Large(services, perWorkload)
	recs := make([]accesslog.Record, 0, 2*len(calls))
	for i := range calls {
		recs = append(recs, calls[i].Records()...)
	}
	return recs
}
