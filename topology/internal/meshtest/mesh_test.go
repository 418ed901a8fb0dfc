package meshtest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"

	"github.com/meshlens/meshlens/accesslog"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCallRecords(t *testing.T) {
	tests := []struct {
		name  string
		sides Side
		want  []accesslog.Reporter
	}{
		{"client only", ClientSide, []accesslog.Reporter{accesslog.ReporterSource, accesslog.ReporterSource}},
		{"server only", ServerSide, []accesslog.Reporter{accesslog.ReporterDestination, accesslog.ReporterDestination}},
		{"both", BothSides, []accesslog.Reporter{
			accesslog.ReporterSource, accesslog.ReporterDestination, accesslog.ReporterSource, accesslog.ReporterDestination,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Call{
				From: Unknown, To: Workload("ns", "a-v1", "a", "v1"), Service: Service("ns", "a"),
				Protocol: accesslog.ProtocolHTTP, Code: 200, GRPC: -1, Sides: tt.sides, Count: 2,
			}
			var got []accesslog.Reporter
			for _, r := range c.Records() {
				got = append(got, r.Reporter)
				if r.Reporter == accesslog.ReporterDestination {
					assert.Equal(t, accesslog.FromNone, r.SourceFrom, "an unknown caller has no identity source")
				}
			}
			assert.Equal(t, tt.want, got)
		})
	}
}
