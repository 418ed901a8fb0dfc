// Package conntable shares one accesslog.ConnTable (the TCP connections an
// ingest path tracks for byte deltas) between the streams of an ingest
// path, behind a lock: the adapter side of the core's table (ADR 0009).
package conntable
