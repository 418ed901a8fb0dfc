package format

import (
	"bytes"
	"testing"

	"github.com/meshlens/meshlens/accesslog/entry"
)

// FuzzParseText: any line, in Istio's default format or a format of the
// fuzzer's, is parsed or refused with an error, never a panic, and what
// the entry holds lies within the line.
func FuzzParseText(f *testing.F) {
	for _, c := range istioDefaultCases {
		f.Add(IstioDefault, c.line)
	}
	f.Add("%REQ(:PATH)% [%START_TIME%]", "/a [2020-11-25T21:26:18.409Z]")
	f.Fuzz(func(t *testing.T, format, line string) {
		fm, err := Compile(format)
		if err != nil {
			return
		}
		var e entry.Entry
		var env Values
		b := []byte(line)
		if fm.Parse(b, &e, &env) != nil {
			return
		}
		for _, v := range [][]byte{e.Path, e.Authority, e.UpstreamCluster, e.UserAgent, e.RequestID, e.UpstreamRemote.Host} {
			if len(v) > 0 && !bytes.Contains(b, v) {
				t.Fatalf("value %q is not in the line", v)
			}
		}
	})
}

// FuzzParseJSON: any line is parsed as Istio's JSON or refused, never a
// panic (the in-place unescaping stays within the line).
func FuzzParseJSON(f *testing.F) {
	f.Add(`{"method":"GET","path":"/a\"b\u00e9","response_code":200,"x":null}`)
	f.Add(`{"user_agent":"\ud83d\ude00","bytes_sent":1e3}`)
	f.Add(`{}`)
	jf, err := CompileJSON(IstioJSON)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line string) {
		var e entry.Entry
		b := []byte(line)
		_ = jf.Parse(b, &e, nil)
		if len(b) != len(line) {
			t.Fatal("the line changed length")
		}
	})
}
