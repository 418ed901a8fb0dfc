package wire

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// splitAt cuts b into segments at the offsets derived from cuts (each byte
// a step forward), as gRPC's frames cut a message.
func splitAt(b, cuts []byte) [][]byte {
	var segs [][]byte
	at := 0
	for _, c := range cuts {
		n := int(c)%97 + 1
		if c%11 == 0 {
			n = 0 // empty segments too
		}
		if at+n > len(b) {
			break
		}
		segs = append(segs, b[at:at+n])
		at += n
	}
	return append(segs, b[at:])
}

// checkSegments decodes b whole and cut into segs and requires the same
// outcome: both fail (ErrMalformed), or both succeed with equal views.
func checkSegments(t *testing.T, b []byte, segs [][]byte) {
	t.Helper()
	var whole, parts Message
	werr := DecodeAccessLogs(b, &whole)
	// A too small arena is replaced; a dirty one is overwritten.
	arena := bytes.Repeat([]byte{0xee}, len(b)/2)
	perr := DecodeAccessLogsSegments(segs, arena[:0], &parts)
	if (werr == nil) != (perr == nil) {
		t.Fatalf("whole: %v, in %d segments: %v", werr, len(segs), perr)
	}
	if werr != nil {
		if !errors.Is(perr, ErrMalformed) || werr.Error() != perr.Error() {
			t.Fatalf("errors differ: whole %q, segments %q", werr, perr)
		}
		return
	}
	var out []string
	diffValue("", reflect.ValueOf(parts), reflect.ValueOf(whole), &out)
	for i := range parts.Entries {
		for _, p := range [2][2]*Peer{{parts.Entries[i].UpstreamPeer, whole.Entries[i].UpstreamPeer}, {parts.Entries[i].DownstreamPeer, whole.Entries[i].DownstreamPeer}} {
			if (p[0] == nil) != (p[1] == nil) {
				out = append(out, "peer presence differs")
			} else if p[0] != nil && (!bytes.Equal(p[0].Raw, p[1].Raw) || p[0].Memo != p[1].Memo) {
				out = append(out, "peer raw or memo differ")
			}
		}
	}
	if len(out) > 0 {
		t.Fatalf("views differ in %d segments:\n%s", len(segs), strings.Join(out, "\n"))
	}
}

func TestDecodeSegments(t *testing.T) {
	full := mustMarshal(t, fullMessage(t))
	for _, size := range []int{1, 2, 3, 7, 64, 500, 16384, len(full)} {
		var segs [][]byte
		for at := 0; at < len(full); at += size {
			segs = append(segs, full[at:min(at+size, len(full))])
		}
		checkSegments(t, full, segs)
	}
	for _, s := range fuzzSeeds(t) {
		checkSegments(t, s, splitAt(s, []byte{5, 200, 11, 77, 3, 150, 22}))
	}
}

// FuzzDecodeSegments checks DecodeAccessLogsSegments against
// DecodeAccessLogs on random inputs cut at random places.
func FuzzDecodeSegments(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, []byte{9, 40, 11, 3})
	}
	f.Fuzz(func(t *testing.T, b, cuts []byte) {
		checkSegments(t, b, splitAt(b, cuts))
	})
}
