package format

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

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
// panic; a line encoding/json reads as a flat object gives the same
// strings for the keys meshlens keeps as text (the in-place unescaping
// agrees with encoding/json's).
func FuzzParseJSON(f *testing.F) {
	f.Add(`{"method":"GET","path":"/a\"b\u00e9","response_code":200,"x":null}`)
	f.Add(`{"user_agent":"\ud83d\ude00 \ud800x","bytes_sent":1e3}`)
	f.Add(`{"authority":"a\\b\/c\n","path":"\u0041"}`)
	f.Add(`{"path":"/\ud83d\ude00"}`)
	f.Add(`{}`)
	jf, err := CompileJSON(IstioJSON)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line string) {
		var e entry.Entry
		b := []byte(line)
		if jf.Parse(b, &e, nil) != nil {
			return
		}
		var obj map[string]any
		if json.Unmarshal([]byte(line), &obj) != nil {
			return
		}
		for key, got := range map[string][]byte{"path": e.Path, "authority": e.Authority, "user_agent": e.UserAgent, "request_id": e.RequestID} {
			v, ok := obj[key].(string)
			if !ok || v == "" || v == "-" {
				continue
			}
			if !utf8.ValidString(v) || strings.ContainsRune(v, utf8.RuneError) {
				continue // encoding/json and meshlens replace invalid text each their own way
			}
			if string(got) != v {
				t.Fatalf("%s: %q, encoding/json reads %q", key, got, v)
			}
		}
	})
}
