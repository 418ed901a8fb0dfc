package promql

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseMatchers(t *testing.T) {
	tests := []struct {
		in      string
		want    string // rendered
		wantErr string
	}{
		{in: "", want: ""},
		{in: "  ", want: ""},
		{in: `job="meshlens"`, want: `job="meshlens"`},
		{in: `{job="meshlens"}`, want: `job="meshlens"`},
		{in: ` job = "meshlens" , instance!="a:1" `, want: `job="meshlens",instance!="a:1"`},
		{in: `instance=~"meshlens-.*",env!~'dev|test'`, want: `instance=~"meshlens-.*",env!~"dev|test"`},
		{in: "pod=`a\\b`", want: `pod="a\\b"`},
		{in: `q='it\'s "x"'`, want: `q="it's \"x\""`},
		{in: `q="a\"b"`, want: `q="a\"b"`},
		{in: `_x9="1",`, want: `_x9="1"`},
		{in: `{job="a"`, wantErr: "unbalanced braces"},
		{in: `job=meshlens`, wantErr: `value of job: expected a quoted value at "meshlens"`},
		{in: `9job="a"`, wantErr: `expected a label name at "9job=\"a\""`},
		{in: `job "a"`, wantErr: `expected =, !=, =~ or !~ after "job"`},
		{in: `job="a" x="b"`, wantErr: `expected ',' before "x=\"b\""`},
		{in: `job="a`, wantErr: "value of job: unterminated string"},
		{in: "job=`a", wantErr: "value of job: unterminated raw string"},
		{in: `job=`, wantErr: "value of job: missing quoted value"},
		{in: `job=~"(a"`, wantErr: "regular expression of job: error parsing regexp: missing closing ): `^(?:(a)$`"},
		{in: `job="\q"`, wantErr: "value of job: bad string \"\\q\": invalid syntax"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			ms, err := ParseMatchers(tt.in)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, ms.String())
			again, err := ParseMatchers(ms.String())
			require.NoError(t, err)
			assert.Equal(t, ms, again, "rendering parses back")
		})
	}
}
