package api

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/meshlens/meshlens/topology"
	"github.com/meshlens/meshlens/topology/internal/kiali"
	"github.com/meshlens/meshlens/topology/promsource"
)

// query is a parsed graph request.
type query struct {
	snap      topology.SnapshotOptions
	kiali     kiali.Options
	queryTime time.Time // snapshot instant
	format    string    // json | dot
	source    string    // local | prometheus
}

// Sources of a graph.
const (
	sourceLocal      = "local"
	sourcePrometheus = promsource.SourceName
)

// maxGlobalWindow bounds the window of the global graph: Prometheus keeps
// history far longer than the live graph's rings.
const maxGlobalWindow = 30 * 24 * time.Hour

// Bounds of what one request may ask, so that parsing and filtering stay
// linear and small whatever a client sends (docs/api.md): the raw query
// string, and the namespaces one graph may be filtered to.
const (
	maxQueryBytes      = 64 << 10
	maxQueryNamespaces = 1000
)

// limits are what the graph allows a query to ask for.
type limits struct {
	longest time.Duration // longest window
	kiali   bool          // Kiali API: namespaces required, one window (default 10m)
	anyTime bool          // queryTime may be any past time
}

var (
	errBadQuery = errors.New("bad query")

	enumParams = map[string][]string{
		"rateHttp":        {"requests", "none"},
		"rateGrpc":        {"requests", "sent", "received", "total", "none"},
		"rateTcp":         {"sent", "received", "total", "none"},
		"responseTime":    {"avg", "50", "95", "99"},
		"throughputType":  {"request", "response"},
		"ambientTraffic":  {"total", "waypoint", "ztunnel", "none"},
		"configVendor":    {"common", "cytoscape"},
		"telemetryVendor": {"istio"},
		"format":          {"json", "dot"},
		"source":          {sourceLocal, sourcePrometheus},
	}
	enumDefaults = map[string]string{
		"rateHttp": "requests", "rateGrpc": "requests", "rateTcp": "sent", "responseTime": "95",
		"throughputType": "response", "format": "json", "source": sourceLocal,
	}
)

func badf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadQuery, fmt.Sprintf(format, args...))
}

// parseQuery validates the query parameters of the graph endpoints.
func parseQuery(v url.Values, lim limits, now time.Time) (query, error) {
	var q query
	enum := map[string]string{}
	for name, allowed := range enumParams {
		val := v.Get(name)
		if val == "" {
			enum[name] = enumDefaults[name]
			continue
		}
		if !slices.Contains(allowed, val) {
			return q, badf("invalid %s %q: want one of %s", name, val, strings.Join(allowed, ", "))
		}
		enum[name] = val
	}
	q.format = enum["format"]
	q.source = enum["source"]
	if q.source == sourcePrometheus {
		// The query endpoint keeps its own history: longer windows, any
		// past queryTime.
		lim.longest, lim.anyTime = maxGlobalWindow, true
	}

	gt := v.Get("graphType")
	if gt == "" {
		gt = topology.Workload.String()
	}
	g, err := topology.ParseGranularity(gt)
	if err != nil {
		return q, fmt.Errorf("%w: %w", errBadQuery, err)
	}
	q.snap.Granularity = g

	if raw, present := v["namespaces"]; present || lim.kiali {
		list := strings.Join(raw, ",")
		if strings.TrimSpace(list) == "" {
			return q, badf("namespaces is required: a comma-separated list of namespace names")
		}
		seen := map[string]bool{}
		for ns := range strings.SplitSeq(list, ",") {
			ns = strings.TrimSpace(ns)
			if !validNamespace(ns) {
				return q, badf("invalid namespace %q: a namespace is a DNS-1123 label (lowercase letters, digits and '-', at most 63)", ns)
			}
			if seen[ns] {
				continue
			}
			if len(seen) == maxQueryNamespaces {
				return q, badf("too many namespaces: at most %d in one query", maxQueryNamespaces)
			}
			seen[ns] = true
			q.snap.Namespaces = append(q.snap.Namespaces, ns)
		}
	}

	var d time.Duration
	if raw := v.Get("duration"); raw != "" {
		pd, err := model.ParseDuration(raw)
		if err != nil {
			secs, err2 := strconv.ParseInt(raw, 10, 64)
			if err2 != nil || secs <= 0 || secs > int64(lim.longest/time.Second) {
				return q, badf("invalid duration %q: want a duration such as 60s, 1m or 10m", raw)
			}
			pd = model.Duration(time.Duration(secs) * time.Second)
		}
		d = time.Duration(pd)
		if d <= 0 {
			return q, badf("invalid duration %q: must be positive", raw)
		}
		if d > lim.longest {
			return q, badf("duration %s exceeds the longest window (%s)", d, lim.longest)
		}
		q.snap.Windows = []time.Duration{d}
	} else if lim.kiali {
		d = min(10*time.Minute, lim.longest)
		q.snap.Windows = []time.Duration{d}
	}

	q.queryTime = now
	if raw := v.Get("queryTime"); raw != "" {
		t, err := parseUnix(raw)
		if err != nil {
			return q, badf("invalid queryTime %q: want unix seconds", raw)
		}
		secs := t.Unix()
		if t.Before(now) && lim.anyTime {
			q.queryTime = t
		} else if t.Before(now) {
			span := d
			if span == 0 {
				span = lim.longest
			}
			// The rings keep the longest window; allow a minute of clock skew.
			if now.Sub(t) > max(lim.longest-span, time.Minute) {
				return q, badf("queryTime %d is too old: the graph keeps %s of history and the window is %s", secs, lim.longest, span)
			}
			q.queryTime = t
		}
	}

	for _, b := range []struct {
		name string
		dst  *bool
	}{{"includeIdleEdges", &q.snap.IncludeIdle}, {"injectServiceNodes", &q.snap.InjectServiceNodes}} {
		if raw := v.Get(b.name); raw != "" {
			val, err := strconv.ParseBool(raw)
			if err != nil {
				return q, badf("invalid %s %q: want true or false", b.name, raw)
			}
			*b.dst = val
		}
	}

	var boxBy []string
	if raw := v.Get("boxBy"); raw != "" {
		for b := range strings.SplitSeq(raw, ",") {
			switch b = strings.TrimSpace(b); b {
			case "app", "namespace", "cluster":
				boxBy = append(boxBy, b)
			case "none", "":
			default:
				return q, badf("invalid boxBy %q: want a list of app, namespace, cluster or none", b)
			}
		}
	}
	var appenders map[string]bool
	if raw, present := v["appenders"]; present {
		appenders = map[string]bool{}
		for a := range strings.SplitSeq(strings.Join(raw, ","), ",") {
			if a = strings.TrimSpace(a); a == "" {
				continue
			}
			if !slices.Contains(kiali.Appenders, a) {
				return q, badf("invalid appender %q: want a list of %s", a, strings.Join(kiali.Appenders, ", "))
			}
			appenders[a] = true
		}
	}
	if raw := v.Get("refreshInterval"); raw != "" {
		if ms, err := strconv.ParseInt(raw, 10, 64); err != nil || ms < 0 {
			return q, badf("invalid refreshInterval %q: want milliseconds", raw)
		}
	}
	q.kiali = kiali.Options{
		Duration: d, QueryTime: q.queryTime, Namespaces: q.snap.Namespaces, BoxBy: boxBy, Appenders: appenders,
		RateHTTP: enum["rateHttp"], RateGRPC: enum["rateGrpc"], RateTCP: enum["rateTcp"],
		ResponseTime: enum["responseTime"], ThroughputType: enum["throughputType"],
	}
	return q, nil
}

// parseUnix parses unix seconds with up to three decimals ("1700000000",
// "1700000000.125"), exactly.
func parseUnix(raw string) (time.Time, error) {
	whole, frac, hasFrac := strings.Cut(raw, ".")
	secs, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || secs < 0 || secs > 1<<40 {
		return time.Time{}, errors.New("bad seconds")
	}
	var ms int64
	if hasFrac {
		if frac == "" || len(frac) > 3 {
			return time.Time{}, errors.New("bad decimals")
		}
		for range 3 - len(frac) {
			frac += "0"
		}
		if ms, err = strconv.ParseInt(frac, 10, 64); err != nil || frac[0] == '+' || frac[0] == '-' {
			return time.Time{}, errors.New("bad decimals")
		}
	}
	return time.UnixMilli(secs*1000 + ms), nil
}

// validNamespace reports whether s is a DNS-1123 label.
func validNamespace(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (c != '-' || i == 0 || i == len(s)-1) {
			return false
		}
	}
	return true
}

// key identifies the snapshot a query needs, so that stream clients asking
// for the same graph share one snapshot per publish.
func (q *query) key() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%v|%v|%t|%t", q.snap.Granularity, q.snap.Namespaces, q.snap.Windows, q.snap.IncludeIdle, q.snap.InjectServiceNodes)
	return b.String()
}
