// Package remotewrite encodes Prometheus remote write 1.0 requests
// (prometheus.WriteRequest, protobuf) for the aggregations' remote-write
// readers (exporters/istiometrics RemoteWriteReader): a series' labels are
// encoded once, sorted, and kept with the series (Labels); a push appends
// only each series' name, le, value and timestamp to them (Batch). The
// families of a client_golang registry (envoy_*, the span metrics) are
// appended as the text exposition writes them, their labels encoded at
// each push (Families).
//
// It is a pure core: no I/O, no goroutines, no logging, no locks; time is
// a parameter (the timestamp of a push). Compressing and sending the
// requests is the adapter's (collector/hubextension's remote_write).
package remotewrite
