package receiver

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// pushSamples are the captured push deliveries of each dialect.
func pushSamples(t testing.TB) [][]byte {
	var out [][]byte
	for _, f := range []string{"github/push-branch.json", "github/push-new-branch.json", "github/push-delete-tag.json",
		"gitlab/push-event.json", "gitlab/system-push-event.json", "gogs/push.json", "gitea/push-event.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		var c bytes.Buffer
		if err := json.Compact(&c, b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b, c.Bytes())
	}
	return out
}

// sameAsJSON checks that decodeMembers gives what json.Unmarshal gives,
// value and error, and that when the reader takes a body encoding/json
// decodes it without error into the same value.
func sameAsJSON[T any](t *testing.T, body []byte, members func(*T) []member) {
	t.Helper()
	var fast, slow, read T
	errFast := decodeMembers(body, &fast, members)
	errSlow := unmarshal(body, &slow)
	if (errFast == nil) != (errSlow == nil) || errFast != nil && errFast.Error() != errSlow.Error() {
		t.Fatalf("%T from %q: error %v, encoding/json %v", fast, body, errFast, errSlow)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%T from %q: %+v, encoding/json %+v", fast, body, fast, slow)
	}
	if readMembers(body, members(&read)) && (errSlow != nil || !reflect.DeepEqual(read, slow)) {
		t.Fatalf("%T from %q: read %+v, encoding/json %+v (%v)", read, body, read, slow, errSlow)
	}
}

func sameAsJSONAll(t *testing.T, body []byte) {
	t.Helper()
	sameAsJSON(t, body, (*githubPush).members)
	sameAsJSON(t, body, (*gitlabPush).members)
	sameAsJSON(t, body, (*gogsPush).members)
}

// The members reader takes the plain bodies and gives every other one to
// encoding/json; either way a push decodes as encoding/json decodes it.
func TestReadMembers(t *testing.T) {
	deep := strings.Repeat("[", 300) + strings.Repeat("]", 300)
	cases := []struct {
		name  string
		body  string
		takes bool
	}{
		{"plain", `{"ref":"refs/heads/main","after":"x","deleted":false,"pusher":{"name":"a"}}`, true},
		{"spaces", " \t\r\n{ \"ref\" : \"r\" , \"pusher\" : { } } \n", true},
		{"nulls leave fields", `{"ref":"r","ref":null,"deleted":null,"repository":null,"pusher":null}`, true},
		{"later member wins", `{"ref":"a","ref":"b","deleted":true,"deleted":false}`, true},
		{"objects merge", `{"repository":{"full_name":"a/b"},"repository":{"pushed_at":1700000000}}`, true},
		{"time of any type", `{"repository":{"pushed_at":"2024-01-02T03:04:05+02:00"}}`, true},
		{"time null", `{"repository":{"pushed_at":null}}`, true},
		{"time an object", `{"repository":{"pushed_at":{"a":[1,2]}}}`, true},
		{"skipped values", `{"a":[1,-2.5e+3,0,true,false,null,"\u00e9\n",{"b":{}}],"c":[],"d":-0.0E1}`, true},
		{"escape in a key of a skipped object", `{"a":{"\u0072ef":1}}`, true},
		{"non-ASCII skipped value", "{\"a\":\"é\xff\"}", true},
		{"nested 200", `{"a":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`, true},

		{"key in another case", `{"REF":"refs/heads/main"}`, false},
		{"key in another case, nested", `{"pusher":{"Name":"a"}}`, false},
		{"escaped key of another member", `{"\u212aey":1,"ref":"r"}`, false},
		{"non-ASCII key", `{"reſ":"r"}`, false},
		{"escaped key", `{"r\u0065f":"r"}`, false},
		{"escaped value", `{"ref":"refs/heads/ma\u0069n"}`, false},
		{"invalid UTF-8 value", "{\"ref\":\"\xff\xfe\"}", false},
		{"number for a string", `{"ref":7}`, false},
		{"object for a string", `{"ref":{}}`, false},
		{"string for a flag", `{"deleted":"true"}`, false},
		{"array for an object", `{"pusher":[]}`, false},
		{"nested 300", `{"a":` + deep + `}`, false},
		{"top-level array", `[]`, false},
		{"top-level null", `null`, false},
		{"empty", ``, false},
		{"two values", `{}{}`, false},
		{"trailing comma", `{"a":1,}`, false},
		{"leading zero", `{"a":01}`, false},
		{"bare minus", `{"a":-}`, false},
		{"dot without digits", `{"a":1.}`, false},
		{"exponent without digits", `{"a":1e+}`, false},
		{"control character", "{\"a\":\"\t\"}", false},
		{"bad escape", `{"a":"\x"}`, false},
		{"short unicode escape", `{"a":"\u12"}`, false},
		{"unterminated string", `{"a":"abc`, false},
		{"missing colon", `{"a" 1}`, false},
		{"truncated", `{"ref":`, false},
		{"bad literal", `{"a":tru}`, false},
		{"single quotes", `{'a':1}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var p githubPush
			if got := readMembers([]byte(tc.body), p.members()); got != tc.takes {
				t.Errorf("readMembers = %v, want %v", got, tc.takes)
			}
			sameAsJSONAll(t, []byte(tc.body))
		})
	}
	// Each byte that ends a run of plain bytes, at each place in a word.
	for off := range 20 {
		for _, special := range []string{`"`, `\\`, `\"`, `\u00e9`, "\x1f", "\x00", "\x7f", "\xc3\xa9", " "} {
			pad := strings.Repeat("a", off)
			sameAsJSONAll(t, []byte(`{"ref":"`+pad+special+pad+`","a":"`+pad+special+`x"}`))
		}
	}
	for _, b := range pushSamples(t) {
		var p githubPush
		if !readMembers(b, p.members()) {
			t.Errorf("a captured push is not taken: %.60q", b)
		}
		sameAsJSONAll(t, b)
	}
}

// Whatever the body, a push decodes as encoding/json decodes it.
func FuzzDecodeMembers(f *testing.F) {
	for _, b := range pushSamples(f) {
		f.Add(b)
	}
	for _, s := range []string{`{"ref":"r","REF":"s"}`, `{"pusher":{"name":null}}`, `{"deleted":true}`,
		`{"repository":{"pushed_at":"2024-01-02T03:04:05Z","full_name":"a\/b"}}`, `{"a":[{"b":[-1.5e3]}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sameAsJSONAll(t, body)
	})
}

// BenchmarkDecodePush decodes a captured 8.7 KB GitHub push (compact:
// 6.5 KB) into the fields wh-gitd reads, with encoding/json and with the
// members reader.
func BenchmarkDecodePush(b *testing.B) {
	body := pushSamples(b)[1]
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var p githubPush
			if err := unmarshal(body, &p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("members", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var p githubPush
			if err := decodeMembers(body, &p, (*githubPush).members); err != nil || p.Ref == "" {
				b.Fatal(err)
			}
		}
	})
}
