// Package layering holds the test that keeps the folders layered as
// docs/adr/0009-layers-and-lock-convention.md says: which meshlens packages
// each package may import, and which packages a pure core may not import at
// all (anything that does I/O, starts servers, logs or registers metrics).
// It has no code outside its test: the rules are in rules.go so that the
// test can also check them against imports that break them.
package layering
