package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/meshlens/meshlens/topology"
	"github.com/meshlens/meshlens/topology/internal/kiali"
	"github.com/meshlens/meshlens/topology/promsource"
)

// Handler serves the graph API; mount it at "/api/". now is the clock of
// every snapshot (nil means time.Now); the stream publisher started by the
// first stream client uses the now of its handler.
func (l *Live) Handler(now func() time.Time) http.Handler {
	if now == nil {
		now = time.Now
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/graph", func(w http.ResponseWriter, r *http.Request) { l.serveGraph(w, r, now, false) })
	mux.HandleFunc("GET /api/v1/graph.dot", func(w http.ResponseWriter, r *http.Request) { l.serveGraph(w, r, now, true) })
	mux.HandleFunc("GET /api/v1/graph/stream", func(w http.ResponseWriter, r *http.Request) { l.serveStream(w, r, now) })
	mux.HandleFunc("GET /api/namespaces/graph", func(w http.ResponseWriter, r *http.Request) { l.serveKiali(w, r, now) })
	l.kialiRoutes(mux, now)
	l.nodeGraphRoutes(mux, now)
	l.metricsRoutes(mux, now)
	l.proxyRoutes(mux)
	return mux
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(errorBody{Error: "encode response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// writeError answers err with its status; a bad query (400) is counted
// (BadQueries).
func (l *Live) writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, errBadQuery):
		code = http.StatusBadRequest
		l.badQueries.Add(1)
	case errors.Is(err, ErrClosed), errors.Is(err, ErrTooManyClients):
		code = http.StatusServiceUnavailable
	case errors.Is(err, promsource.ErrUpstream):
		code = http.StatusBadGateway
	}
	writeJSON(w, code, errorBody{Error: err.Error()})
}

func (l *Live) parse(r *http.Request, now time.Time, kialiAPI bool) (query, error) {
	if n := len(r.URL.RawQuery); n > maxQueryBytes {
		return query{}, badf("query string of %d bytes: at most %d", n, maxQueryBytes)
	}
	return parseQuery(r.URL.Query(), limits{longest: l.longestWindow(), kiali: kialiAPI}, now)
}

// snapshot computes the snapshot a query asks for: the live graph of this
// instance, or the global graph from the query endpoint (source=prometheus).
func (l *Live) snapshot(ctx context.Context, q *query) (*topology.Snapshot, error) {
	if q.source != sourcePrometheus {
		return l.Snapshot(q.queryTime, q.snap)
	}
	if l.global == nil {
		return nil, badf("source=prometheus needs topology::global::prometheus_url in the meshlens configuration")
	}
	o := q.snap
	if len(o.Windows) == 0 {
		o.Windows = l.windows()
	}
	return l.global.Snapshot(ctx, q.queryTime, o)
}

func (l *Live) serveGraph(w http.ResponseWriter, r *http.Request, now func() time.Time, dot bool) {
	q, err := l.parse(r, now(), false)
	if err != nil {
		l.writeError(w, err)
		return
	}
	snap, err := l.snapshot(r.Context(), &q)
	if err != nil {
		l.writeError(w, err)
		return
	}
	if dot || q.format == "dot" {
		w.Header().Set("Content-Type", "text/vnd.graphviz; charset=utf-8")
		_, _ = w.Write(DOT(snap))
		return
	}
	writeJSON(w, http.StatusOK, snap)
}

func (l *Live) serveKiali(w http.ResponseWriter, r *http.Request, now func() time.Time) {
	q, err := l.parse(r, now(), true)
	if err != nil {
		l.writeError(w, err)
		return
	}
	snap, err := l.snapshot(r.Context(), &q)
	if err != nil {
		l.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, kiali.Render(snap, &q.kiali))
}

func (l *Live) serveStream(w http.ResponseWriter, r *http.Request, now func() time.Time) {
	q, err := l.parse(r, now(), false)
	if err != nil {
		l.writeError(w, err)
		return
	}
	if q.source == sourcePrometheus {
		l.writeError(w, badf("the stream serves this instance's live graph only: poll /api/v1/graph?source=prometheus for the global graph"))
		return
	}
	rc := http.NewResponseController(w)
	// The stream outlives the server's read and write timeouts, which are
	// for ordinary requests: it clears them and sets its own deadline on
	// each write (send), so a client that stops reading is still let go.
	// (Not every ResponseWriter supports deadlines; then there are none.)
	_ = rc.SetReadDeadline(time.Time{})
	s, first, err := l.subscribe(q, now)
	if err != nil {
		l.writeError(w, err)
		return
	}
	defer l.unsubscribe(s)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if !send(w, rc, first) {
		return
	}
	ka := time.NewTicker(l.opts.KeepAlive)
	defer ka.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-l.done:
			return
		case ev := <-s.events:
			if !send(w, rc, ev) {
				return
			}
		case <-ka.C:
			if !send(w, rc, []byte(": keep-alive\n\n")) {
				return
			}
		}
	}
}

// streamWriteTimeout bounds one write of the stream: a client that takes
// longer to read an event or a keep-alive is disconnected.
const streamWriteTimeout = 30 * time.Second

func send(w http.ResponseWriter, rc *http.ResponseController, b []byte) bool {
	_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	if _, err := w.Write(b); err != nil {
		return false
	}
	return rc.Flush() == nil
}
