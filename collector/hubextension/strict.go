package hubextension

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"

	"go.opentelemetry.io/collector/confmap"
)

// Unmarshal implements confmap.Unmarshaler. It decodes as the collector
// does, then rejects keys that name no setting. The collector alone would
// not: the squashed confighttp.ServerConfig is itself an Unmarshaler, and
// confmap then decodes the hub's other fields with unknown keys ignored, so
// a typo (`metrcs_path`, `metrics::series_tll`) would start meshlens with a
// default in its place.
func (c *Config) Unmarshal(conf *confmap.Conf) error {
	// Unknown keys first: the message names where each is and what is
	// valid there (the collector's own, when it checks, says less).
	if err := unknownKeys(conf.ToStringMap(), reflect.TypeFor[Config](), ""); err != nil {
		return err
	}
	return conf.Unmarshal(c)
}

// ownPackage is the import path prefix of the types whose keys are checked
// here; the collector's own config types check theirs.
const ownPackage = "github.com/meshlens/meshlens/"

// unknownKeys returns an error naming every key of m (at path) that is not
// a field of t, descending into the meshlens-defined sections.
func unknownKeys(m map[string]any, t reflect.Type, path string) error {
	fields := map[string]reflect.Type{}
	collectKeys(t, fields)
	var bad []string
	var errs []string
	for k, v := range m {
		ft, ok := fields[k]
		if !ok {
			bad = append(bad, path+k)
			continue
		}
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if err := unknownKeysIn(v, ft, path+k); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		known := make([]string, 0, len(fields))
		for k := range fields {
			known = append(known, k)
		}
		sort.Strings(known)
		errs = append(errs, fmt.Sprintf("unknown key(s) %s (valid here: %s)", strings.Join(bad, ", "), strings.Join(known, ", ")))
	}
	if len(errs) == 0 {
		return nil
	}
	sort.Strings(errs)
	return fmt.Errorf("%s", strings.Join(errs, "; "))
}

// unknownKeysIn checks the value v of the key at path, of type t: a
// meshlens-defined section, or a list or map of them (metrics::overrides,
// its tag_overrides), whose entries are checked as sections of their own.
func unknownKeysIn(v any, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		sub, isMap := v.(map[string]any)
		if isMap && strings.HasPrefix(t.PkgPath(), ownPackage) {
			return unknownKeys(sub, t, path+"::")
		}
	case reflect.Slice:
		list, isList := v.([]any)
		if !isList {
			return nil
		}
		var errs []error
		for i, e := range list {
			if err := unknownKeysIn(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	case reflect.Map:
		m, isMap := v.(map[string]any)
		if !isMap {
			return nil
		}
		var errs []error
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if err := unknownKeysIn(m[k], t.Elem(), path+"::"+k); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	return nil
}

// collectKeys adds the mapstructure keys of t's fields to keys, flattening
// squashed fields.
func collectKeys(t reflect.Type, keys map[string]reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := strings.Split(f.Tag.Get("mapstructure"), ",")
		name := tag[0]
		if slices.Contains(tag[1:], "squash") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				collectKeys(ft, keys)
			}
			continue
		}
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		keys[name] = f.Type
	}
}
