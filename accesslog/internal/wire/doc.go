// Package wire decodes Envoy ALS v3 messages into zero-copy views.
//
// DecodeAccessLogs reads one envoy.service.accesslog.v3.StreamAccessLogsMessage
// (the request message of AccessLogService/StreamAccessLogs) in its protobuf
// binary form and fills a Message: the stream Identifier and one Entry per
// HTTPAccessLogEntry or TCPAccessLogEntry. Only the fields meshlens needs are
// read; everything else is skipped without being decoded.
//
// The decoder is hand-written and allocates nothing once Message.Entries has
// grown to the batch size: every string or bytes field in the views is a
// sub-slice of the input buffer, so the views are valid only as long as that
// buffer is neither reused nor modified. Callers that keep a value must copy it.
//
// For the fields it reads, the decoder follows the semantics of
// google.golang.org/protobuf's proto.Unmarshal:
//
//   - unknown fields of every wire type are skipped, including groups, which
//     must be balanced;
//   - a known field number whose wire type does not match the field's type is
//     treated as an unknown field;
//   - for scalar and string fields the last occurrence wins;
//   - repeated occurrences of a singular sub-message are merged;
//   - setting a different member of a oneof discards the previous member;
//   - map entries with a duplicate key replace the earlier entry.
//
// Two consequences of those rules: proto3 scalars have no presence, so
// Entry.HasWireBytes means "one of the four counters is non-zero"; and a
// filter-state value is an Any, whose payload proto.Unmarshal does not
// decode, so a peer Struct or gRPC FilterObject that cannot be decoded is not
// an error (the peer is counted in Entry.FilterStateUnknownKinds instead).
// A peer Struct counts as decodable exactly when proto.Unmarshal would accept
// it, nested values and nesting depth included, apart from UTF-8 checks.
//
// The decoder is more lenient than proto.Unmarshal in two respects: it does
// not check that string fields hold valid UTF-8, and it does not look inside
// fields it skips (for example common_properties.metadata, custom_tags or
// node.metadata), so damage inside those fields goes unnoticed. Structural
// damage in the parts it reads (truncated input, varint overflow, lengths
// past the end of the buffer, invalid field numbers, reserved wire types,
// unbalanced or too deeply nested groups) is reported as an error that wraps
// one of the sentinel errors, all of which match ErrMalformed with errors.Is.
// Whatever the decoder rejects, proto.Unmarshal rejects too.
package wire
