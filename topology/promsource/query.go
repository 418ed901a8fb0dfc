package promsource

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/topology"
	"github.com/meshlens/meshlens/topology/internal/promql"
)

// Sample is one element of an instant vector.
type Sample struct {
	Metric map[string]string
	Value  float64
}

// QueryFunc runs an instant PromQL query evaluated at a time.
type QueryFunc func(ctx context.Context, query string, at time.Time) ([]Sample, error)

// The identity labels of a stored edge and the reporter: every query sums
// by them.
var identityLabels = []string{
	"reporter",
	"source_cluster", "source_workload_namespace", "source_workload", "source_canonical_service", "source_canonical_revision",
	"destination_cluster", "destination_workload_namespace", "destination_workload", "destination_canonical_service", "destination_canonical_revision",
	"destination_service", "destination_service_name", "destination_service_namespace",
	"request_protocol",
}

// outcome labels: the response, the security policy and the principals
// (client-side mTLS is "both principals are SPIFFE ids", as in the live
// graph).
var (
	httpOutcome = []string{"response_code", "grpc_response_status", "response_flags", "connection_security_policy", "source_principal", "destination_principal"}
	tcpOutcome  = []string{"response_flags", "connection_security_policy", "source_principal", "destination_principal"}
)

// field says what a query's samples add to.
type field uint8

const (
	fRequests field = iota // istio_requests_total: requests, responses, mTLS, principals
	fBuckets               // duration histogram buckets (by le)
	fDurationSum
	fBytesIn
	fBytesOut
	fMessagesIn
	fMessagesOut
	fTCPBytesIn
	fTCPBytesOut
	fOpened
	fClosed // closed connections: TCP responses, mTLS, principals
)

// spec is one query of a window.
type spec struct {
	metric string
	extra  []string
	field  field
}

// specs are the queries run for every window.
var specs = []spec{
	{"istio_requests_total", httpOutcome, fRequests},
	{"istio_request_duration_milliseconds_bucket", []string{"le"}, fBuckets},
	{"istio_request_duration_milliseconds_sum", nil, fDurationSum},
	{"istio_request_bytes_sum", nil, fBytesIn},
	{"istio_response_bytes_sum", nil, fBytesOut},
	{"istio_request_messages_total", nil, fMessagesIn},
	{"istio_response_messages_total", nil, fMessagesOut},
	{"istio_tcp_received_bytes_total", nil, fTCPBytesIn},
	{"istio_tcp_sent_bytes_total", nil, fTCPBytesOut},
	{"istio_tcp_connections_opened_total", nil, fOpened},
	{"istio_tcp_connections_closed_total", tcpOutcome, fClosed},
}

// promDuration renders a window as a PromQL duration in milliseconds.
func promDuration(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + "ms" }

// query returns the PromQL of s over window d: per series, the counter's
// value now minus its value d ago (no extrapolation, unlike increase());
// a series born inside the window counts in full, and so does one whose
// value fell (a counter reset: what it counted since).
func (s *spec) query(sel promql.Matchers, d time.Duration) string {
	by := strings.Join(append(slices.Clone(identityLabels), s.extra...), ", ")
	m := s.metric + "{" + sel.String() + "}"
	return fmt.Sprintf("sum by (%s) ((%s - %s offset %s) >= 0 or %s)", by, m, m, promDuration(d), m)
}

// Queries returns every query the global graph runs for window d, in
// order.
func Queries(sel promql.Matchers, d time.Duration) []string {
	out := make([]string, len(specs))
	for i := range specs {
		out[i] = specs[i].query(sel, d)
	}
	return out
}

// edgeKey identifies a stored edge by its label values.
type edgeKey struct {
	srcCluster, srcNS, srcName, srcCS, srcCR string
	dstCluster, dstNS, dstName, dstCS, dstCR string
	svcHost, svcName, svcNS                  string
	proto                                    accesslog.Protocol
}

func keyOfSample(m map[string]string) edgeKey {
	return edgeKey{
		srcCluster: m["source_cluster"], srcNS: m["source_workload_namespace"], srcName: m["source_workload"],
		srcCS: m["source_canonical_service"], srcCR: m["source_canonical_revision"],
		dstCluster: m["destination_cluster"], dstNS: m["destination_workload_namespace"], dstName: m["destination_workload"],
		dstCS: m["destination_canonical_service"], dstCR: m["destination_canonical_revision"],
		svcHost: m["destination_service"], svcName: m["destination_service_name"], svcNS: m["destination_service_namespace"],
		proto: parseProtocol(m["request_protocol"]),
	}
}

func parseProtocol(s string) accesslog.Protocol {
	switch s {
	case "grpc":
		return accesslog.ProtocolGRPC
	case "tcp":
		return accesslog.ProtocolTCP
	default:
		return accesslog.ProtocolHTTP
	}
}

// side returns 0 for the client side, 1 for the server side and -1 for
// reporters the graph ignores.
func side(reporter string) int {
	switch reporter {
	case "source":
		return 0
	case "destination", "waypoint":
		return 1
	default:
		return -1
	}
}

var flagCodes = func() map[string]accesslog.ResponseFlags {
	m := map[string]accesslog.ResponseFlags{}
	for bit := 1; bit < 32; bit++ {
		f := accesslog.ResponseFlags(1) << bit
		if s := f.String(); s != "-" && !strings.Contains(s, ",") {
			m[s] = f
		}
	}
	return m
}()

// parseFlags parses the response_flags label ("-", "UF", "UF,URX").
// Unknown codes are ignored.
func parseFlags(s string) accesslog.ResponseFlags {
	var f accesslog.ResponseFlags
	if s == "" || s == "-" {
		return 0
	}
	for code := range strings.SplitSeq(s, ",") {
		f |= flagCodes[code]
	}
	return f
}

// parseCode parses response_code ("0" or empty: no response).
func parseCode(s string) uint32 {
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0
	}
	return uint32(v)
}

// parseGRPC parses grpc_response_status (empty: none).
func parseGRPC(s string) int32 {
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil || v < 0 {
		return -1
	}
	return int32(v)
}

func spiffe(p string) bool { return strings.HasPrefix(p, "spiffe://") }

// builder sums query results into edge totals.
type builder struct {
	nw    int
	edges map[edgeKey]*edgeAcc
}

type edgeAcc struct {
	e       topology.EdgeTotals
	buckets [2][]map[float64]float64 // per side and window: le → cumulative count
}

func newBuilder(windows int) *builder {
	return &builder{nw: windows, edges: map[edgeKey]*edgeAcc{}}
}

// totals returns the Totals of one side and window of the edge of m,
// creating them.
func (b *builder) totals(m map[string]string, sd, w int) (*edgeAcc, *topology.Totals) {
	k := keyOfSample(m)
	acc := b.edges[k]
	if acc == nil {
		acc = &edgeAcc{e: topology.EdgeTotals{
			Source: accesslog.Workload{
				Name: k.srcName, Namespace: k.srcNS, CanonicalService: k.srcCS, CanonicalRevision: k.srcCR, Cluster: k.srcCluster,
			},
			Destination: accesslog.Workload{
				Name: k.dstName, Namespace: k.dstNS, CanonicalService: k.dstCS, CanonicalRevision: k.dstCR, Cluster: k.dstCluster,
			},
			Service:  accesslog.Service{Host: k.svcHost, Name: k.svcName, Namespace: k.svcNS},
			Protocol: k.proto,
		}}
		b.edges[k] = acc
	}
	views := &acc.e.Client
	if sd == 1 {
		views = &acc.e.Server
	}
	if *views == nil {
		*views = make([]topology.Totals, b.nw)
	}
	return acc, &(*views)[w]
}

// add adds the samples of one query of window w.
func (b *builder) add(f field, w int, samples []Sample) {
	for i := range samples {
		s := &samples[i]
		m := s.Metric
		sd := side(m["reporter"])
		v := s.Value
		if sd < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		acc, t := b.totals(m, sd, w)
		switch f {
		case fRequests, fClosed:
			if p := m["source_principal"]; acc.e.Source.Principal == "" && p != "" && p != "unknown" {
				acc.e.Source.Principal = p
			}
			if p := m["destination_principal"]; acc.e.Destination.Principal == "" && p != "" && p != "unknown" {
				acc.e.Destination.Principal = p
			}
			r := topology.ResponseTotal{
				Code: parseCode(m["response_code"]), GRPCStatus: parseGRPC(m["grpc_response_status"]),
				Flags: parseFlags(m["response_flags"]), Count: v,
			}
			if f == fClosed {
				r.Code, r.GRPCStatus = 0, -1
				t.Closed += v
			} else {
				t.Requests += v
			}
			t.Responses = addResponse(t.Responses, r)
			if (sd == 1 && m["connection_security_policy"] == "mutual_tls") ||
				(sd == 0 && spiffe(m["source_principal"]) && spiffe(m["destination_principal"])) {
				t.MTLS += v
			}
		case fBuckets:
			le, err := strconv.ParseFloat(m["le"], 64)
			if err != nil || math.IsNaN(le) {
				continue
			}
			if acc.buckets[sd] == nil {
				acc.buckets[sd] = make([]map[float64]float64, b.nw)
			}
			if acc.buckets[sd][w] == nil {
				acc.buckets[sd][w] = map[float64]float64{}
			}
			acc.buckets[sd][w][le] += v
		case fDurationSum:
			t.DurationSumMillis += v
		case fBytesIn, fTCPBytesIn:
			t.BytesIn += v
		case fBytesOut, fTCPBytesOut:
			t.BytesOut += v
		case fMessagesIn:
			t.MessagesIn += v
		case fMessagesOut:
			t.MessagesOut += v
		case fOpened:
			t.Opened += v
		}
	}
}

func addResponse(rs []topology.ResponseTotal, r topology.ResponseTotal) []topology.ResponseTotal {
	for i := range rs {
		if rs[i].Code == r.Code && rs[i].GRPCStatus == r.GRPCStatus && rs[i].Flags == r.Flags {
			rs[i].Count += r.Count
			return rs
		}
	}
	return append(rs, r)
}

// result returns the edge totals, sorted by key so that the snapshot does
// not depend on the order of the query results.
func (b *builder) result() []topology.EdgeTotals {
	keys := make([]edgeKey, 0, len(b.edges))
	for k := range b.edges {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	out := make([]topology.EdgeTotals, 0, len(keys))
	for _, k := range keys {
		acc := b.edges[k]
		for sd, views := range [2][]topology.Totals{acc.e.Client, acc.e.Server} {
			for w := range views {
				if len(acc.buckets[sd]) > w && len(acc.buckets[sd][w]) > 0 {
					views[w].DurationBounds, views[w].DurationCumulative = cumulative(acc.buckets[sd][w])
				}
			}
		}
		out = append(out, acc.e)
	}
	return out
}

func compareKeys(x, y edgeKey) int {
	return cmp.Or(
		cmp.Compare(x.srcCluster, y.srcCluster), cmp.Compare(x.srcNS, y.srcNS), cmp.Compare(x.srcName, y.srcName),
		cmp.Compare(x.srcCS, y.srcCS), cmp.Compare(x.srcCR, y.srcCR),
		cmp.Compare(x.dstCluster, y.dstCluster), cmp.Compare(x.dstNS, y.dstNS), cmp.Compare(x.dstName, y.dstName),
		cmp.Compare(x.dstCS, y.dstCS), cmp.Compare(x.dstCR, y.dstCR),
		cmp.Compare(x.svcHost, y.svcHost), cmp.Compare(x.svcName, y.svcName), cmp.Compare(x.svcNS, y.svcNS),
		cmp.Compare(x.proto, y.proto),
	)
}

// cumulative turns le → cumulative count into ascending finite bounds and
// the counts per bound followed by the +Inf count.
func cumulative(m map[float64]float64) (bounds, cum []float64) {
	les := make([]float64, 0, len(m))
	for le := range m {
		les = append(les, le)
	}
	slices.Sort(les)
	inf := 0.0
	for _, le := range les {
		if math.IsInf(le, 1) {
			inf = m[le]
			continue
		}
		bounds = append(bounds, le)
		cum = append(cum, m[le])
	}
	if len(cum) > 0 {
		inf = max(inf, cum[len(cum)-1])
	}
	return bounds, append(cum, inf)
}

// Totals runs every query of every window at now through query, at most
// parallel at a time, and sums the results per edge, reporter side and
// window. The first failing query cancels the others and is returned.
func Totals(ctx context.Context, query QueryFunc, sel promql.Matchers, now time.Time, windows []time.Duration, parallel int) ([]topology.EdgeTotals, error) {
	type job struct {
		spec *spec
		w    int
		res  []Sample
	}
	jobs := make([]job, 0, len(windows)*len(specs))
	for w := range windows {
		for i := range specs {
			jobs = append(jobs, job{spec: &specs[i], w: w})
		}
	}
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	sem := make(chan struct{}, max(parallel, 1))
	for i := range jobs {
		if qctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		j := &jobs[i]
		wg.Go(func() {
			defer func() { <-sem }()
			res, err := query(qctx, j.spec.query(sel, windows[j.w]), now)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("%s over %s: %w", j.spec.metric, windows[j.w], err)
					cancel()
				}
				mu.Unlock()
				return
			}
			j.res = res
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b := newBuilder(len(windows))
	for i := range jobs {
		b.add(jobs[i].spec.field, jobs[i].w, jobs[i].res)
	}
	return b.result(), nil
}
