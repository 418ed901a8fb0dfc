package promsource

import (
	"context"
	"encoding/base64"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/topology"
)

func TestClient(t *testing.T) {
	type got struct{ path, auth, query, time, timeout, ctype string }
	var last got
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.NoError(t, r.ParseForm())
		last = got{r.URL.Path, r.Header.Get("Authorization"), r.PostForm.Get("query"), r.PostForm.Get("time"), r.PostForm.Get("timeout"), r.Header.Get("Content-Type")}
		_, _ = w.Write([]byte(`{"status":"success","warnings":["w"],"data":{"resultType":"vector","result":[
			{"metric":{"reporter":"source","le":"+Inf"},"value":[1.5,"3"]},
			{"metric":{},"value":[1.5,"NaN"]},
			{"metric":{"a":"b"},"value":[1.5,"+Inf"]}]}}`))
	}))
	defer srv.Close()
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("u:p"))
	tests := []struct {
		name     string
		cfg      topology.GlobalConfig
		path     string
		auth     string
		deadline bool
	}{
		{"plain", topology.GlobalConfig{PrometheusURL: srv.URL}, "/api/v1/query", "", false},
		{"prefix with slash, bearer", topology.GlobalConfig{PrometheusURL: srv.URL + "/prometheus/", BearerToken: "tok"}, "/prometheus/api/v1/query", "Bearer tok", false},
		{"basic auth, deadline", topology.GlobalConfig{PrometheusURL: srv.URL + "/p", Username: "u", Password: "p"}, "/p/api/v1/query", basic, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(tt.cfg)
			require.NoError(t, err)
			defer c.Close()
			ctx := t.Context()
			if tt.deadline {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, time.Minute)
				defer cancel()
			}
			res, err := c.Query(ctx, `up{job="x"}`, time.UnixMilli(1_700_000_000_007))
			require.NoError(t, err)
			require.Len(t, res, 3)
			assert.Equal(t, map[string]string{"reporter": "source", "le": "+Inf"}, res[0].Metric)
			assert.InDelta(t, 3, res[0].Value, 0)
			assert.True(t, math.IsNaN(res[1].Value))
			assert.True(t, math.IsInf(res[2].Value, 1))
			assert.Equal(t, tt.path, last.path)
			assert.Equal(t, tt.auth, last.auth)
			assert.Equal(t, `up{job="x"}`, last.query)
			assert.Equal(t, "1700000000.007", last.time)
			assert.Equal(t, "application/x-www-form-urlencoded", last.ctype)
			if tt.deadline {
				assert.Regexp(t, `^[0-9]+ms$`, last.timeout, "the remaining deadline is passed on")
			} else {
				assert.Empty(t, last.timeout)
			}
		})
	}
}

func TestClientLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[]}}`))
	}))
	defer srv.Close()
	c, err := NewClient(topology.GlobalConfig{PrometheusURL: srv.URL})
	require.NoError(t, err)
	defer c.Close()
	c.maxBytes = 10
	_, err = c.Query(t.Context(), "up", time.Now())
	require.EqualError(t, err, "answer from "+srv.URL+"/api/v1/query larger than 10 bytes")
	_, err = NewClient(topology.GlobalConfig{PrometheusURL: "http://[::1"})
	require.Error(t, err)
}
