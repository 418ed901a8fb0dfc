package benchrecs_test

import (
	"testing"
	"time"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/internal/benchrecs"
)

func TestInterleave(t *testing.T) {
	streams := benchrecs.Synthetic(t, 100, time.Unix(1_700_000_000, 0))
	total, batches := 0, 0
	for _, s := range streams {
		batches += len(s)
		for _, recs := range s {
			total += len(recs)
		}
	}
	seen, last := 0, -1
	n := 0
	benchrecs.Interleave(streams, func(i int, recs []accesslog.Record) {
		if n < len(streams) && i != last+1 {
			t.Fatalf("first round out of order: stream %d after %d", i, last)
		}
		last, n = i, n+1
		seen += len(recs)
	})
	if n != batches || seen != total || total == 0 {
		t.Fatalf("saw %d batches and %d records, want %d and %d", n, seen, batches, total)
	}
}

func TestLabelSets(t *testing.T) {
	recs := benchrecs.LabelSets(300)
	dst := map[string]bool{}
	for i := range recs {
		dst[recs[i].Destination.Name] = true
	}
	if len(recs) != 300 || len(dst) != 300 {
		t.Fatalf("%d records, %d distinct destinations", len(recs), len(dst))
	}
}
