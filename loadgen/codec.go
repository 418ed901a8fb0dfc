package loadgen

import (
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the "proto" codec rawCodec falls back to
	"google.golang.org/grpc/mem"
)

// RawMessage is an already encoded protobuf message. Sent with RawCodec it
// goes on the wire unchanged; received with RawCodec it holds a copy of the
// payload.
type RawMessage struct {
	Bytes []byte
}

// RawCodec is a gRPC CodecV2 named "proto" (so the content-type stays
// application/grpc+proto, what any ALS server expects) that passes
// *RawMessage through unchanged and handles every other type like gRPC's
// proto codec. Use it per call with grpc.ForceCodecV2(RawCodec{}).
type RawCodec struct{}

var _ encoding.CodecV2 = RawCodec{}

// Name returns "proto".
func (RawCodec) Name() string { return "proto" }

// Marshal returns r.Bytes for a *RawMessage, else the proto encoding of v.
func (RawCodec) Marshal(v any) (mem.BufferSlice, error) {
	switch r := v.(type) {
	case *RawMessage:
		return mem.BufferSlice{mem.SliceBuffer(r.Bytes)}, nil
	case *pooledMessage:
		return mem.BufferSlice{r.buf}, nil
	}
	return protoCodec().Marshal(v)
}

// Unmarshal copies data into a *RawMessage, else decodes it as proto.
func (RawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*RawMessage); ok {
		r.Bytes = data.Materialize()
		return nil
	}
	return protoCodec().Unmarshal(data, v)
}

// protoV2 is gRPC's own proto codec, captured at init so that registering
// RawCodec globally under the same name cannot make it call itself.
var protoV2 = encoding.GetCodecV2("proto")

func protoCodec() encoding.CodecV2 {
	if protoV2 == nil || protoV2.Name() != "proto" {
		panic("loadgen: gRPC proto codec not registered")
	}
	return protoV2
}
