// Package jaeger pins the Jaeger v2 binary that meshlens's end-to-end tests
// run (e2e/jaeger_test.go): github.com/jaegertracing/jaeger/cmd/jaeger, as a
// `tool` of this module, with every dependency's hash in go.sum. It is a
// module of its own so that Jaeger's dependencies never enter meshlens's.
//
// Build it with scripts/jaeger.sh, which builds once into a cache directory
// and prints the binary's path. Jaeger's own replace directives do not apply
// to a dependency build; the build works without them at the pinned version.
package jaeger
