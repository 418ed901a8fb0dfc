// Package textgzip is a gzip writer (RFC 1952, DEFLATE RFC 1951) made for
// the Prometheus text exposition, whose lines repeat the previous line's
// label block: a histogram's 22 lines of one series differ only in the
// name's suffix, the le label and the value.
//
// Instead of searching for matches, it compares each line with the one
// before it: their common prefix, then the common part from the '{' of
// each, become back-references at the exact distance; what is left of a
// line is literals, or, when it is long (a series seen for the first time,
// a comment), goes through a greedy hash matcher like a generic
// compressor's fastest level. The tokens of a block of lines get one
// dynamic Huffman code, built from their counts once per block of 64 Ki
// tokens (several MB of exposition), where a generic compressor at its
// fastest level builds one every few kilobytes of output.
//
// Any input gives a valid stream: the line structure only decides where
// the writer looks for matches, and every match is checked byte by byte
// before it is emitted. docs/adr/0012 records the decision and
// BENCHMARKS.md the speed and size against klauspost/compress.
package textgzip
