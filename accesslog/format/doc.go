// Package format reads Envoy access-log lines written with a format string
// (file access logs, the body of OpenTelemetry access logs) into
// source-neutral entries (package entry), which accesslog.Stream.Normalize
// turns into Records as it does ALS entries.
//
// A format is compiled once (Compile for a text format string such as
// Istio's default, IstioDefault; CompileJSON for a JSON format such as
// Istio's JSON encoding, IstioJSON) and then parses lines without
// allocating: the entry's bytes alias the line. The operators meshlens
// reads are those that carry what the canonical record needs (times,
// codes, flags, bytes, addresses, the upstream cluster, request headers
// for identity and tracing); any other operator is matched and ignored.
// %ENVIRONMENT(...)% values (formats that log the pod's name and
// namespace, as some managed meshes' JSON does) are returned to the
// caller, who decides who reported the line; meshlens's exporter reads
// the reporter from the log's resource instead.
//
// This package is a pure core: no I/O, no goroutines, no clock.
package format
