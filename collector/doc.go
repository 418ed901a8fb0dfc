// Package collector is the meshlens OpenTelemetry Collector distribution:
// the component list, the embedded default configuration and the command
// line (run, --demo, loadgen). cmd/meshlens is a thin main around it.
package collector
