package captures

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const (
	// EnvDir names the environment variable that points at the captures
	// directory. A relative value is taken from the module root.
	EnvDir = "MESHLENS_CAPTURES"
	// EnvRequire names the environment variable that, set to 1, turns
	// missing captures into a test failure instead of a skip.
	EnvRequire = "MESHLENS_REQUIRE_CAPTURES"
	// Default is the captures directory relative to the module root.
	Default = "../shared/testdata/envoy"

	modulePath = "github.com/meshlens/meshlens"
	origin     = "they come from " + Default + " beside the repository, see CONTRIBUTING.md"
)

// Root returns the captures directory: $MESHLENS_CAPTURES when set, else
// <module root>/../shared/testdata/envoy, the module root being the nearest
// directory above the working directory whose go.mod declares
// github.com/meshlens/meshlens. explicit reports whether MESHLENS_CAPTURES
// was set. Root does not check that the directory exists.
func Root() (dir string, explicit bool, err error) {
	dir, explicit = os.LookupEnv(EnvDir)
	explicit = explicit && dir != ""
	if explicit && filepath.IsAbs(dir) {
		return filepath.Clean(dir), true, nil
	}
	mod, err := moduleRoot()
	if err != nil {
		return "", explicit, err
	}
	if !explicit {
		dir = Default
	}
	return filepath.Join(mod, dir), explicit, nil
}

// Path returns filepath.Join(Root(), parts...). It fails, naming the
// directory, the variable and where the captures come from, when the
// captures directory is missing; a missing file under an existing directory
// is left to the caller.
func Path(parts ...string) (string, error) {
	p, _, err := lookup(parts)
	return p, err
}

// Dir is Path for tests. When the captures are missing it skips tb, or fails
// it when MESHLENS_REQUIRE_CAPTURES=1 or MESHLENS_CAPTURES was set
// explicitly. Call it from the test's goroutine.
func Dir(tb testing.TB, parts ...string) string {
	tb.Helper()
	p, explicit, err := lookup(parts)
	if err == nil {
		return p
	}
	if Required() || explicit {
		tb.Fatalf("%v", err)
		return ""
	}
	tb.Skipf("%v", err)
	return ""
}

// Required reports whether MESHLENS_REQUIRE_CAPTURES asks for the captures.
func Required() bool {
	v, err := strconv.ParseBool(os.Getenv(EnvRequire))
	return err == nil && v
}

func lookup(parts []string) (path string, explicit bool, err error) {
	root, explicit, err := Root()
	if err == nil {
		var fi os.FileInfo
		if fi, err = os.Stat(root); err == nil && !fi.IsDir() {
			err = errors.New("not a directory")
		}
	}
	if err != nil {
		where := root
		switch {
		case where != "":
		case explicit:
			where = os.Getenv(EnvDir)
		default:
			where = Default + " beside the repository"
		}
		var set string
		if explicit {
			set = fmt.Sprintf("%s=%s", EnvDir, os.Getenv(EnvDir))
		} else {
			set = EnvDir + " is not set"
		}
		if Required() {
			set = EnvRequire + "=" + os.Getenv(EnvRequire) + ", " + set
		}
		detail := ""
		if !errors.Is(err, fs.ErrNotExist) {
			detail = ": " + err.Error()
		}
		return "", explicit, fmt.Errorf("real Envoy captures not found at %s%s (%s): set %s to their directory (%s)",
			where, detail, set, EnvDir, origin)
	}
	return filepath.Join(append([]string{root}, parts...)...), explicit, nil
}

// moduleRoot walks up from the working directory to the go.mod of
// github.com/meshlens/meshlens (nested modules such as dashboards/ are
// passed over).
func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; {
		if modulePathOf(filepath.Join(d, "go.mod")) == modulePath {
			return d, nil
		}
		up := filepath.Dir(d)
		if up == d {
			return "", fmt.Errorf("no go.mod of %s above %s", modulePath, wd)
		}
		d = up
	}
}

// modulePathOf returns the module path declared in a go.mod file, or "".
func modulePathOf(gomod string) string {
	f, err := os.Open(gomod)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "module"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			rest, _, _ = strings.Cut(rest, "//")
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}
