package accesslog

import (
	"bytes"
	"strings"
	"time"

	"github.com/meshlens/meshlens/accesslog/entry"
)

func unixTime(n int64) time.Time { return time.Unix(0, n) }

var specialClusters = [...]string{
	"PassthroughCluster", "BlackHoleCluster", "InboundPassthroughCluster",
	"InboundPassthroughClusterIpv4", "InboundPassthroughClusterIpv6",
}

// service fills r.Service: from the upstream cluster name, then the route
// name, then :authority, then (server side) the local canonical service.
func (s *Stream) service(e *entry.Entry, r *Record) {
	local := &s.proxy.Workload
	switch {
	case bytes.Equal(e.RouteName, []byte("block_all")):
		s.specialService(e, r, "BlackHoleCluster")
		return
	case bytes.Equal(e.RouteName, []byte("allow_any")):
		s.specialService(e, r, "PassthroughCluster")
		return
	}
	if len(e.UpstreamCluster) > 0 {
		for _, sc := range specialClusters {
			if string(e.UpstreamCluster) == sc {
				s.specialService(e, r, sc)
				return
			}
		}
		// A proxy's entries repeat a few clusters: try the recent ones
		// before the map.
		for i := range s.clusterMemo {
			if m := &s.clusterMemo[i]; m.host == string(e.UpstreamCluster) && m.svc.Host != "" {
				r.Service, r.ServiceFrom = m.svc, FromClusterName
				return
			}
		}
		if c, ok := s.svcs[string(e.UpstreamCluster)]; ok {
			if c.svc.Host != "" {
				s.rememberCluster(c.cluster, c.svc)
				r.Service, r.ServiceFrom = c.svc, FromClusterName
				return
			}
		} else if host := clusterFQDN(e.UpstreamCluster); len(host) > 0 {
			cluster := s.intern(e.UpstreamCluster)
			svc := s.serviceFromHost(host, local.Namespace)
			s.svcs[cluster] = clusterService{cluster, svc}
			s.rememberCluster(cluster, svc)
			r.Service, r.ServiceFrom = svc, FromClusterName
			return
		} else if isIstioCluster(e.UpstreamCluster) {
			cluster := s.intern(e.UpstreamCluster)
			s.svcs[cluster] = clusterService{cluster: cluster}
		} else {
			// A plain Envoy or Envoy Gateway cluster: its name is the best
			// name the upstream has.
			name := s.intern(e.UpstreamCluster)
			svc := Service{Host: name, Name: name, Namespace: unknown}
			s.svcs[name] = clusterService{name, svc}
			s.rememberCluster(name, svc)
			r.Service, r.ServiceFrom = svc, FromClusterName
			return
		}
	}
	if host := authorityHost(e.Authority); len(host) > 0 && !isIP(host) {
		r.Service, r.ServiceFrom = s.serviceFromAuthority(host, local.Namespace), FromAuthority
		return
	}
	if r.Reporter == ReporterDestination {
		name := orUnknown(local.CanonicalService)
		r.Service = Service{Host: name, Name: name, Namespace: orUnknown(local.Namespace)}
		r.ServiceFrom = FromNodeMetadata
		return
	}
	r.Service = Service{Host: unknown, Name: unknown, Namespace: unknown}
	r.ServiceFrom = FromNone
}

// clusterService is a parsed upstream cluster: its interned name (the map
// key, kept so that the recent clusters can hold it without interning it
// again) and its service.
type clusterService struct {
	cluster string
	svc     Service
}

// rememberCluster puts a cluster (interned) and its service in the recent
// clusters.
func (s *Stream) rememberCluster(cluster string, svc Service) {
	m := &s.clusterMemo[s.clusterNext%len(s.clusterMemo)]
	s.clusterNext++
	m.host, m.svc = cluster, svc
}

func (s *Stream) specialService(e *entry.Entry, r *Record, name string) {
	host := unknown
	if h := authorityHost(e.Authority); len(h) > 0 {
		host = s.intern(h)
	}
	r.Service = Service{Host: host, Name: name, Namespace: unknown}
	if r.Reporter == ReporterDestination {
		r.Service.Namespace = orUnknown(s.proxy.Workload.Namespace)
	}
	r.ServiceFrom = FromClusterName
}

// clusterFQDN returns the host of an Istio cluster name:
// outbound|<port>|<subset>|<fqdn>, inbound|<port>|<name>|<fqdn> (old
// releases), inbound-vip|<port>|<x>|<fqdn>, outbound_.<port>_.<subset>_.<fqdn>.
func clusterFQDN(c []byte) []byte {
	if bytes.HasPrefix(c, []byte("outbound|")) || bytes.HasPrefix(c, []byte("inbound|")) || bytes.HasPrefix(c, []byte("inbound-vip|")) {
		i := bytes.LastIndexByte(c, '|')
		if bytes.Count(c, []byte("|")) != 3 {
			return nil
		}
		return c[i+1:]
	}
	if bytes.HasPrefix(c, []byte("outbound_.")) {
		parts := bytes.SplitN(c, []byte("_."), 3)
		if len(parts) == 3 {
			return parts[2]
		}
	}
	return nil
}

func isIstioCluster(c []byte) bool {
	return bytes.HasPrefix(c, []byte("outbound")) || bytes.HasPrefix(c, []byte("inbound"))
}

// serviceFromHost splits <name>.<namespace>.svc.<domain> hosts; other hosts
// (ServiceEntries) keep the host as their name.
func (s *Stream) serviceFromHost(host []byte, localNS string) Service {
	h := s.intern(host)
	if i := strings.Index(h, ".svc."); i > 0 {
		if j := strings.IndexByte(h[:i], '.'); j > 0 {
			return Service{Host: h, Name: h[:j], Namespace: h[j+1 : i]}
		}
	}
	_ = localNS
	return Service{Host: h, Name: h, Namespace: unknown}
}

// serviceFromAuthority qualifies short Kubernetes names the way DNS search
// paths would: "reviews" → reviews.<ns>.svc.<domain>, "reviews.ns" →
// reviews.ns.svc.<domain>.
func (s *Stream) serviceFromAuthority(host []byte, localNS string) Service {
	// A proxy's entries repeat a few authorities: remember the last ones
	// rather than build and hash the qualified name again.
	for i := range s.authMemo {
		if m := &s.authMemo[i]; m.host == string(host) && m.svc.Host != "" {
			return m.svc
		}
	}
	svc := s.qualifyAuthority(host, localNS)
	m := &s.authMemo[s.authNext%len(s.authMemo)]
	s.authNext++
	m.host, m.svc = string(host), svc
	return svc
}

func (s *Stream) qualifyAuthority(host []byte, localNS string) Service {
	dots := bytes.Count(host, []byte("."))
	if dots > 1 || localNS == "" && dots == 0 {
		return s.serviceFromHost(host, localNS)
	}
	b := s.scratch[:0]
	b = append(b, host...)
	if dots == 0 {
		b = append(b, '.')
		b = append(b, localNS...)
	}
	b = append(b, ".svc."...)
	b = append(b, s.cfg.ClusterDomain...)
	s.scratch = b
	return s.serviceFromHost(b, localNS)
}

// authorityHost strips the port from an :authority value.
func authorityHost(a []byte) []byte {
	if len(a) == 0 {
		return nil
	}
	if a[0] == '[' { // [v6]:port
		if i := bytes.IndexByte(a, ']'); i > 0 {
			return a[1:i]
		}
		return nil
	}
	if i := bytes.LastIndexByte(a, ':'); i >= 0 && bytes.IndexByte(a[:i], ':') < 0 {
		return a[:i]
	}
	return a
}

func isIP(h []byte) bool {
	if bytes.IndexByte(h, ':') >= 0 {
		return true
	}
	for _, c := range h {
		if (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return true
}

// isMeshService reports whether host is a Kubernetes service name.
func isMeshService(host string) bool { return strings.Contains(host, ".svc.") }
