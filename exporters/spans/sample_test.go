package spans

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/accesslog"
)

func TestThreshold(t *testing.T) {
	tests := []struct {
		rate float64
		want uint64
	}{
		{0, 1 << 56},
		{1, 0},
		{0.5, 1 << 55},
		{0.25, 3 << 54},
		{1.5, 0},
		{-1, 1 << 56},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Threshold(tt.rate), "rate %v", tt.rate)
	}
}

func TestSamplerRateIsConsistent(t *testing.T) {
	for _, rate := range []float64{0, 0.01, 0.1, 0.5, 1} {
		cfg := Config{SamplingRate: rate}
		s1, s2 := NewSampler(cfg), NewSampler(cfg)
		rng := rand.New(rand.NewPCG(1, uint64(rate*1000)))
		const n = 200_000
		kept := 0
		for range n {
			r := rec(accesslog.ReporterSource, accesslog.TraceContext{Format: accesslog.TraceW3C}, "x", "10.0.0.1", 80)
			binary.BigEndian.PutUint64(r.Trace.TraceID[:8], rng.Uint64())
			binary.BigEndian.PutUint64(r.Trace.TraceID[8:], rng.Uint64())
			d1, _ := s1.Decide(&r)
			r.Reporter = accesslog.ReporterDestination
			d2, _ := s2.Decide(&r)
			require.Equal(t, d1, d2, "both reports and every replica decide alike")
			if d1.Kept() {
				kept++
			}
		}
		assert.InDelta(t, rate, float64(kept)/n, 0.005, "rate %v", rate)
	}
}

func TestSamplerDecisions(t *testing.T) {
	traced := accesslog.TraceContext{Format: accesslog.TraceW3C, TraceID: [16]byte{15: 1}} // low bits ~0: out at any rate < 1
	tests := []struct {
		name string
		cfg  Config
		edit func(r *accesslog.Record)
		want Decision
	}{
		{"sampled out", Config{SamplingRate: 0.5, KeepErrors: true, SlowThreshold: time.Second}, nil, SampledOut},
		{"kept by rate", Config{SamplingRate: 1}, nil, KeepRate},
		{"5xx kept", Config{KeepErrors: true}, func(r *accesslog.Record) { r.ResponseCode = 503 }, KeepError},
		{"5xx not kept without keep_errors", Config{}, func(r *accesslog.Record) { r.ResponseCode = 503 }, SampledOut},
		{"grpc error kept", Config{KeepErrors: true}, func(r *accesslog.Record) {
			r.Protocol, r.GRPCStatus = accesslog.ProtocolGRPC, 14
		}, KeepError},
		{"no response kept", Config{KeepErrors: true}, func(r *accesslog.Record) { r.ResponseCode = 0 }, KeepError},
		{"slow kept", Config{SlowThreshold: time.Second}, func(r *accesslog.Record) { r.DurationNanos = int64(time.Second) }, KeepSlow},
		{"fast not kept", Config{SlowThreshold: time.Second}, func(r *accesslog.Record) { r.DurationNanos = int64(time.Second) - 1 }, SampledOut},
		{"unknown duration is not slow", Config{SlowThreshold: time.Second}, func(r *accesslog.Record) { r.DurationNanos = -1 }, SampledOut},
		{"tcp ineligible", Config{SamplingRate: 1}, func(r *accesslog.Record) { r.Kind = accesslog.KindTCP }, Ineligible},
		{"not final ineligible", Config{SamplingRate: 1}, func(r *accesslog.Record) { r.Final = false }, Ineligible},
		{"no context, synthetic off", Config{SamplingRate: 1}, func(r *accesslog.Record) { r.Trace = accesslog.TraceContext{} }, Ineligible},
		{"no context, synthetic on", Config{SamplingRate: 1, SyntheticTraceIDs: true}, func(r *accesslog.Record) { r.Trace = accesslog.TraceContext{} }, KeepRate},
		{"no context, no request id", Config{SamplingRate: 1, SyntheticTraceIDs: true}, func(r *accesslog.Record) {
			r.Trace, r.Details.RequestID = accesslog.TraceContext{}, nil
		}, Ineligible},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, tt.cfg.Validate())
			r := rec(accesslog.ReporterSource, traced, "req", "10.0.0.1", 80)
			r.DurationNanos = int64(time.Millisecond)
			if tt.edit != nil {
				tt.edit(&r)
			}
			d, _ := NewSampler(tt.cfg).Decide(&r)
			assert.Equal(t, tt.want, d, "got %s", d)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg     Config
		wantErr string
	}{
		{DefaultConfig(), ""},
		{Config{SamplingRate: 1.5}, "sampling_rate must be between 0 and 1, got 1.5"},
		{Config{SamplingRate: -0.1}, "sampling_rate must be between 0 and 1, got -0.1"},
		{Config{SlowThreshold: -time.Second}, "slow_threshold must not be negative, got -1s"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if tt.wantErr == "" {
			require.NoError(t, err)
			continue
		}
		assert.EqualError(t, err, tt.wantErr)
	}
}

func TestSampledOutAllocatesNothing(t *testing.T) {
	s := NewSampler(Config{SamplingRate: 0, KeepErrors: true, SlowThreshold: time.Hour, SyntheticTraceIDs: true})
	r := rec(accesslog.ReporterSource, accesslog.TraceContext{}, "0ac1feff-84ae-4d3a-8b15-890da2b194c5", "10.0.0.1", 80)
	allocs := testing.AllocsPerRun(1000, func() {
		if d, _ := s.Decide(&r); d != SampledOut {
			t.Fatal(d)
		}
	})
	assert.Zero(t, allocs)
}
