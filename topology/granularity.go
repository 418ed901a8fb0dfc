package topology

import "fmt"

// Granularity is what a snapshot's nodes stand for: Kiali's graph types.
type Granularity uint8

// Granularities.
const (
	Workload     Granularity = iota // one node per (cluster, namespace, workload)
	App                             // one node per (cluster, namespace, canonical service)
	VersionedApp                    // one node per (cluster, namespace, canonical service, revision)
	Service                         // one node per (cluster, namespace, service)
)

var granularityNames = [...]string{"workload", "app", "versionedApp", "service"}

// String returns Kiali's graphType value.
func (g Granularity) String() string {
	if int(g) < len(granularityNames) {
		return granularityNames[g]
	}
	return "invalid"
}

// ParseGranularity parses Kiali's graphType values.
func ParseGranularity(s string) (Granularity, error) {
	for i, n := range granularityNames {
		if s == n {
			return Granularity(i), nil
		}
	}
	return 0, fmt.Errorf("invalid graphType %q: want one of workload, app, versionedApp, service", s)
}

// MarshalText implements encoding.TextMarshaler.
func (g Granularity) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (g *Granularity) UnmarshalText(b []byte) error {
	v, err := ParseGranularity(string(b))
	if err != nil {
		return err
	}
	*g = v
	return nil
}
