package window

import (
	"strconv"

	"github.com/meshlens/meshlens/accesslog"
)

// Code is a response code as Kiali keys responses: an HTTP status, or for
// gRPC the gRPC status unless the HTTP status is 4xx/5xx, or "-" when there
// was no response.
type Code uint16

const (
	// NoResponse is Istio's response_code="0" (Kiali "-").
	NoResponse Code = 0xFFFF
	// NoStatus is a gRPC response without a gRPC status (Kiali's empty
	// code, shown as "-" but not counted as NoResponse).
	NoStatus Code = 0xFFFE
	grpcBit  Code = 0x8000
)

var codeStrings [1000]string

func init() {
	for i := range codeStrings {
		codeStrings[i] = strconv.Itoa(i)
	}
}

// CodeOf returns the Kiali response code of a record.
func CodeOf(r *accesslog.Record) Code {
	if r.Kind == accesslog.KindTCP || r.ResponseCode == 0 {
		return NoResponse
	}
	rc := r.ResponseCode
	if r.Protocol == accesslog.ProtocolGRPC && (rc < 400 || rc >= 600) {
		if r.GRPCStatus < 0 {
			return NoStatus
		}
		return grpcBit | Code(min(r.GRPCStatus, 0x7ff))
	}
	return Code(min(rc, 0x7fff))
}

// IsGRPC reports whether c is a gRPC status.
func (c Code) IsGRPC() bool { return c != NoResponse && c != NoStatus && c&grpcBit != 0 }

// String returns Kiali's response key.
func (c Code) String() string {
	switch {
	case c == NoResponse || c == NoStatus:
		return "-"
	case c.IsGRPC():
		return itoa(int(c &^ grpcBit))
	default:
		return itoa(int(c))
	}
}

func itoa(v int) string {
	if v >= 0 && v < len(codeStrings) {
		return codeStrings[v]
	}
	return strconv.Itoa(v)
}

// Class is the traffic class Kiali derives from a code.
type Class uint8

// Classes.
const (
	ClassOK         Class = iota // 1xx, 2xx, gRPC 0, gRPC without status
	ClassNoResponse              // "-"
	Class3xx
	Class4xx
	Class5xx
	ClassGRPCErr // gRPC status other than 0
)

// Class returns c's class.
func (c Code) Class() Class {
	switch {
	case c == NoResponse:
		return ClassNoResponse
	case c == NoStatus:
		return ClassOK
	case c.IsGRPC():
		if c&^grpcBit == 0 {
			return ClassOK
		}
		return ClassGRPCErr
	case c >= 300 && c < 400:
		return Class3xx
	case c >= 400 && c < 500:
		return Class4xx
	case c >= 500 && c < 600:
		return Class5xx
	default:
		return ClassOK
	}
}

// Kind is one distinct response of an edge: code, response flags and
// whether meshlens counts it as an error (accesslog.Record.IsError).
type Kind struct {
	Code  Code
	Err   bool
	Flags accesslog.ResponseFlags
}

// KindOf returns the response kind of a record.
func KindOf(r *accesslog.Record) Kind {
	return Kind{Code: CodeOf(r), Err: r.IsError(), Flags: r.Flags}
}

// ProxyError reports whether k is an error the proxy generated (a response
// flag of accesslog.ProxyFailureFlags), not the application.
func (k Kind) ProxyError() bool { return k.Err && k.Flags&accesslog.ProxyFailureFlags != 0 }

// similar reports whether two kinds count the same in every rate: used to
// fold a kind into another when a view's kind table is full.
func (k Kind) similar(o Kind) bool {
	return k.Code.Class() == o.Code.Class() && k.Err == o.Err && k.ProxyError() == o.ProxyError()
}
