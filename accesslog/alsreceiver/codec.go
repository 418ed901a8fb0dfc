package alsreceiver

import (
	"sync"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"

	// Registers the "proto" codec used for everything but raw frames.
	_ "google.golang.org/grpc/encoding/proto"
)

// frame holds the bytes of one received gRPC message. The buffer comes from
// a pool when a message arrives and goes back once the message is
// processed (release), so receiving allocates nothing in steady state and an
// idle stream holds no buffer.
type frame struct{ b []byte }

var bufPool = sync.Pool{New: func() any { return new([]byte) }}

func (f *frame) release() {
	if f.b == nil {
		return
	}
	b := f.b[:0]
	f.b = nil
	bufPool.Put(&b)
}

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
	if f.b == nil {
		f.b = *bufPool.Get().(*[]byte)
	}
	f.b = f.b[:0]
	for _, buf := range data {
		f.b = append(f.b, buf.ReadOnlyData()...)
	}
	return nil
}

func (rawCodec) Name() string { return "proto" }
