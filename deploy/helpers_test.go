package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// meshlens's ports (collector/default.yaml, deploy/kubernetes/).
const (
	meshlensGRPCPort = 9001
	meshlensHTTPPort = 9102
)

// jsonMarshal re-encodes a decoded YAML value as JSON.
func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// readFile returns a file of this directory tree.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// yamlDocs splits a (possibly multi-document) YAML file into its documents,
// skipping empty ones (comments only).
func yamlDocs(t *testing.T, path string) [][]byte {
	t.Helper()
	r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(readFile(t, path))))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var v any
		if err := yaml.Unmarshal(doc, &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if v != nil {
			docs = append(docs, doc)
		}
	}
}

// strictJSON decodes JSON into v, failing on unknown fields (a typo in a
// key) and on trailing data.
func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// strictYAML decodes YAML into v through JSON: unknown fields and duplicate
// keys fail.
func strictYAML(data []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return err
	}
	return strictJSON(j, v)
}

// yamlToProto decodes YAML into a protobuf message the way Envoy and istiod
// read their YAML: through protojson, which rejects unknown fields and
// resolves every Any's "@type" among the registered types (an unregistered
// or misspelt type fails).
func yamlToProto(data []byte, m proto.Message) error {
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return err
	}
	return protojson.Unmarshal(j, m)
}

// validator is implemented by the messages protoc-gen-validate generated
// (every Envoy message).
type validator interface{ ValidateAll() error }

// checkProto validates m with its generated ValidateAll, then walks it: the
// content of every Any (which ValidateAll does not look into) is unpacked and
// validated the same way, and a field or enum value Envoy marks deprecated
// is an error too. It returns every problem found, with its path.
func checkProto(m proto.Message) []error {
	var errs []error
	if v, ok := m.(validator); ok {
		if err := v.ValidateAll(); err != nil {
			errs = append(errs, err)
		}
	}
	walkProto(m.ProtoReflect(), string(m.ProtoReflect().Descriptor().Name()), &errs)
	return errs
}

func walkProto(m protoreflect.Message, path string, errs *[]error) {
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s: %w", path, err))
			return
		}
		for _, err := range checkProto(inner) {
			*errs = append(*errs, fmt.Errorf("%s(%s): %w", path, a.GetTypeUrl(), err))
		}
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := path + "." + string(fd.Name())
		if opts, ok := fd.Options().(*descriptorpb.FieldOptions); ok && opts.GetDeprecated() {
			*errs = append(*errs, fmt.Errorf("%s is deprecated", p))
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				walkValue(fd, l.Get(i), fmt.Sprintf("%s[%d]", p, i), errs)
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				walkValue(fd.MapValue(), mv, fmt.Sprintf("%s[%s]", p, k.String()), errs)
				return true
			})
		default:
			walkValue(fd, v, p, errs)
		}
		return true
	})
}

func walkValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string, errs *[]error) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		walkProto(v.Message(), path, errs)
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			if opts, ok := ev.Options().(*descriptorpb.EnumValueOptions); ok && opts.GetDeprecated() {
				*errs = append(*errs, fmt.Errorf("%s: enum value %s is deprecated", path, ev.Name()))
			}
		}
	default:
	}
}

// unpack returns the message in an Any, failing the test if it is not of
// type T.
func unpack[T proto.Message](t *testing.T, a *anypb.Any) T {
	t.Helper()
	m, err := a.UnmarshalNew()
	if err != nil {
		t.Fatal(err)
	}
	v, ok := m.(T)
	if !ok {
		var zero T
		t.Fatalf("typed_config is %s, want %T", a.GetTypeUrl(), zero)
	}
	return v
}

// missing returns the elements of want that are not in got.
func missing(got, want []string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			out = append(out, w)
		}
	}
	return out
}
