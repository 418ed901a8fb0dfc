package alsreceiver

import (
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"

	// Registers the "proto" codec used for everything but raw frames.
	_ "google.golang.org/grpc/encoding/proto"
)

// frame holds the bytes of one received gRPC message. Its buffer is reused
// from message to message, so receiving allocates nothing in steady state.
type frame struct{ b []byte }

// rawCodec hands incoming messages to the receiver as raw bytes (so that the
// hand-written decoder reads them in place) and encodes responses with the
// standard proto codec. It keeps the name "proto" so clients see the usual
// application/grpc content type.
type rawCodec struct{ proto encoding.CodecV2 }

func newRawCodec() rawCodec { return rawCodec{proto: encoding.GetCodecV2("proto")} }

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	f, ok := v.(*frame)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	f.b = f.b[:0]
	for _, buf := range data {
		f.b = append(f.b, buf.ReadOnlyData()...)
	}
	return nil
}

func (rawCodec) Name() string { return "proto" }
