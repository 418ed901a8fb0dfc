package promsource

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/meshlens/meshlens/topology"
	"github.com/meshlens/meshlens/topology/internal/promql"
)

// DefaultParallel is how many queries a snapshot runs at once.
const DefaultParallel = 4

// SourceName is the Snapshot.Source of global snapshots.
const SourceName = "prometheus"

// Source computes global snapshots from a query endpoint. It is safe for
// concurrent use.
type Source struct {
	query    QueryFunc
	close    func()
	sel      promql.Matchers
	timeout  time.Duration
	endpoint string
	parallel int
}

// New returns a Source querying the endpoint of cfg over HTTP. cfg must
// have been validated.
func New(cfg topology.GlobalConfig) (*Source, error) {
	c, err := NewClient(cfg)
	if err != nil {
		return nil, err
	}
	s, err := NewWithQuery(c.Query, cfg.Selector, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	s.close, s.endpoint = c.Close, cfg.PrometheusURL
	return s, nil
}

// NewWithQuery returns a Source running its queries through query, with
// the label matchers of selector added to every metric selector; timeout
// bounds each snapshot (zero: topology.DefaultGlobalTimeout).
func NewWithQuery(query QueryFunc, selector string, timeout time.Duration) (*Source, error) {
	sel, err := promql.ParseMatchers(selector)
	if err != nil {
		return nil, fmt.Errorf("selector %q: %w", selector, err)
	}
	if timeout <= 0 {
		timeout = topology.DefaultGlobalTimeout
	}
	return &Source{query: query, sel: sel, timeout: timeout, endpoint: "the query endpoint", parallel: DefaultParallel}, nil
}

// Close releases the HTTP connections.
func (s *Source) Close() {
	if s.close != nil {
		s.close()
	}
}

// Snapshot computes the global graph at now over o.Windows (required). A
// failing or slow query endpoint gives an error wrapping ErrUpstream.
func (s *Source) Snapshot(ctx context.Context, now time.Time, o topology.SnapshotOptions) (*topology.Snapshot, error) {
	if len(o.Windows) == 0 {
		return nil, fmt.Errorf("%w: the global graph needs a window", topology.ErrWindow)
	}
	for _, d := range o.Windows {
		if d < time.Millisecond {
			return nil, fmt.Errorf("%w: %s is shorter than a millisecond", topology.ErrWindow, d)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	edges, err := Totals(ctx, s.query, s.sel, now, o.Windows, s.parallel)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: %s did not answer within %s (topology::global::timeout)", ErrUpstream, s.endpoint, s.timeout)
		}
		if errors.Is(err, context.Canceled) && ctx.Err() != nil { // the caller gave up
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrUpstream, err)
	}
	snap, err := topology.SnapshotFromTotals(edges, now, o)
	if err != nil {
		return nil, err
	}
	snap.Source = SourceName
	return snap, nil
}
