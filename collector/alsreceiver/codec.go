package alsreceiver

import (
	"sync"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"

	// Registers the "proto" codec used for everything but raw frames.
	_ "google.golang.org/grpc/encoding/proto"
)

// frame holds one received gRPC message as gRPC received it: the buffers of
// its HTTP/2 DATA frames (at most 16 KiB each), kept referenced until the
// message is processed (release), plus a pooled arena of the message's
// size. The ALS path decodes the buffers in place and copies into the arena
// only the entries that straddle two of them; the Metrics Service path
// joins them in the arena (bytes). Receiving allocates nothing in steady
// state and an idle stream holds no buffer.
type frame struct {
	data  mem.BufferSlice
	segs  [][]byte
	arena []byte
	n     int // message length
}

var arenaPool = sync.Pool{New: func() any { return new([]byte) }}

// bytes returns the message as one slice (joined in the arena when it came
// in several buffers).
func (f *frame) bytes() []byte {
	if len(f.segs) == 1 {
		return f.segs[0]
	}
	b := f.arena[:0]
	for _, s := range f.segs {
		b = append(b, s...)
	}
	f.arena = b
	return b
}

func (f *frame) release() {
	if f.data != nil {
		f.data.Free()
		f.data = nil
	}
	clear(f.segs)
	f.segs = f.segs[:0]
	if f.arena != nil {
		a := f.arena[:0]
		f.arena = nil
		arenaPool.Put(&a)
	}
	f.n = 0
}

// rawCodec hands incoming messages to the receiver as the raw buffers gRPC
// read them into (so that the hand-written decoder reads them in place) and
// encodes responses with the standard proto codec. It keeps the name
// "proto" so clients see the usual application/grpc content type.
type rawCodec struct{ proto encoding.CodecV2 }

func newRawCodec() rawCodec { return rawCodec{proto: encoding.GetCodecV2("proto")} }

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	f, ok := v.(*frame)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	f.release() // a frame holds one message at a time
	// gRPC frees data when Unmarshal returns: keep a reference until the
	// message is processed.
	data.Ref()
	f.data = data
	f.n = 0
	for _, buf := range data {
		f.segs = append(f.segs, buf.ReadOnlyData())
		f.n += buf.Len()
	}
	if len(data) > 1 {
		f.arena = *arenaPool.Get().(*[]byte)
		if cap(f.arena) < f.n {
			f.arena = make([]byte, 0, f.n)
		}
	}
	return nil
}

func (rawCodec) Name() string { return "proto" }
