//go:build hostile

package receiver_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

// hmacSHA1Hex is the hex HMAC-SHA1 of body under secret: GitHub's old signature.
func hmacSHA1Hex(secret string, body []byte) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Every forged or damaged signature gets the same 401, no job, and an
// answer that names nothing the attacker could use.
func TestHostileSignatures(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	c1 := h.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	bodies := map[string][]byte{}
	for name := range endpoints {
		bodies[name] = pushBody(t, name, "main", testkit.ZeroSHA, c1)
	}
	// reserialised is the GitHub body decoded and encoded again: the same
	// JSON value, other bytes.
	var doc any
	if err := json.Unmarshal(bodies["gh"], &doc); err != nil {
		t.Fatal(err)
	}
	reserialised, _ := json.MarshalIndent(doc, "", " ")
	flip := func(header string, hexPos int) func(*http.Request) {
		return func(r *http.Request) {
			sig := []byte(r.Header.Get(header))
			i := len(sig) - 64 + hexPos
			sig[i] = "01"[sig[i]&1^1]
			r.Header.Set(header, string(sig))
		}
	}
	cases := []struct {
		name     string
		endpoint string
		secret   string
		body     []byte
		edit     func(*http.Request)
	}{
		{"GitHub: first byte flipped", "gh", "", nil, flip("X-Hub-Signature-256", 0)},
		{"GitHub: last byte flipped", "gh", "", nil, flip("X-Hub-Signature-256", 63)},
		{"GitHub: header missing", "gh", "", nil, func(r *http.Request) { r.Header.Del("X-Hub-Signature-256") }},
		{"GitHub: SHA-1 header only, correct", "gh", "", nil, func(r *http.Request) {
			r.Header.Del("X-Hub-Signature-256")
			r.Header.Set("X-Hub-Signature", "sha1="+hmacSHA1Hex("gh-secret-0123456789", bodies["gh"]))
		}},
		{"GitHub: sha1= prefix on the SHA-256 header", "gh", "", nil, func(r *http.Request) {
			r.Header.Set("X-Hub-Signature-256", "sha1="+testkit.HMACHex("gh-secret-0123456789", bodies["gh"]))
		}},
		{"GitHub: signature upper-case hex of another body", "gh", "", nil, func(r *http.Request) {
			r.Header.Set("X-Hub-Signature-256", "sha256="+strings.ToUpper(testkit.HMACHex("gh-secret-0123456789", []byte("{}"))))
		}},
		{"GitHub: re-serialised body, old signature", "gh", "", reserialised, func(r *http.Request) {
			r.Header.Set("X-Hub-Signature-256", "sha256="+testkit.HMACHex("gh-secret-0123456789", bodies["gh"]))
		}},
		{"GitHub: body with a trailing newline, old signature", "gh", "", append(bytes.Clone(bodies["gh"]), '\n'),
			func(r *http.Request) {
				r.Header.Set("X-Hub-Signature-256", "sha256="+testkit.HMACHex("gh-secret-0123456789", bodies["gh"]))
			}},
		{"GitHub: secret of the Gogs endpoint", "gh", endpoints["gg"].secret, nil, nil},
		{"GitHub: empty secret", "gh", "", nil, func(r *http.Request) {
			r.Header.Set("X-Hub-Signature-256", "sha256="+testkit.HMACHex("", bodies["gh"]))
		}},
		{"Gogs: byte flipped", "gg", "", nil, flip("X-Gogs-Signature", 10)},
		{"Gogs: header missing", "gg", "", nil, func(r *http.Request) { r.Header.Del("X-Gogs-Signature") }},
		{"Gogs: GitHub header instead", "gg", "", nil, func(r *http.Request) {
			r.Header.Set("X-Hub-Signature-256", "sha256="+r.Header.Get("X-Gogs-Signature"))
			r.Header.Del("X-Gogs-Signature")
		}},
		{"Gogs: secret of the GitHub endpoint", "gg", endpoints["gh"].secret, nil, nil},
		{"GitLab: token wrong", "gl", "gl-tokem", nil, nil},
		{"GitLab: token missing", "gl", "", nil, func(r *http.Request) { r.Header.Del("X-Gitlab-Token") }},
		{"GitLab: token with a prefix of the secret", "gl", "gl-", nil, nil},
		{"GitLab: secret of the GitHub endpoint", "gl", endpoints["gh"].secret, nil, nil},
		{"GitLab: HMAC instead of the token", "gl", "", nil, func(r *http.Request) {
			r.Header.Set("X-Gitlab-Token", testkit.HMACHex("gl-token-0123456789", bodies["gl"]))
		}},
	}
	var first string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body
			if body == nil {
				body = bodies[tc.endpoint]
			}
			a := h.sendEdited(tc.endpoint, testkit.Delivery{Body: body, Secret: tc.secret}, tc.edit)
			if a.Code != http.StatusUnauthorized {
				t.Fatalf("answer %d %s, want 401", a.Code, a.Raw)
			}
			for _, never := range []string{"gh-secret-0123456789", "gl-token-0123456789", "gogs-secret-0123456789", testkit.HMACHex("gh-secret-0123456789", body),
				testkit.HMACHex("gogs-secret-0123456789", body), "sha256", "X-Hub", "X-Gitlab", "X-Gogs", "expected"} {
				if strings.Contains(a.Raw, never) {
					t.Errorf("401 answer holds %q: %s", never, a.Raw)
				}
			}
			if first == "" {
				first = a.Raw
			} else if a.Raw != first { // no oracle: every refusal reads the same
				t.Errorf("answer %q differs from the first refusal's %q", a.Raw, first)
			}
		})
	}
	h.noJobs(t)
}

// A flood of bad signatures is answered 401 every time, but only the first
// few refusals of the minute are logged; the rest are counted for one
// summary line at the end of the minute.
func TestHostileSignatureFloodLogsLittle(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	c1 := h.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	body := pushBody(t, "gh", "main", testkit.ZeroSHA, c1)
	const flood, senders = 2000, 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	deadline := time.Now().Add(60 * time.Second)
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := s; i < flood && time.Now().Before(deadline); i += senders {
				req := h.signed("gh", testkit.Delivery{Body: body, Secret: "wrong"})
				resp, err := http.DefaultClient.Do(req)
				code := -1
				if err == nil {
					code = resp.StatusCode
					resp.Body.Close()
				}
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if codes[http.StatusUnauthorized] != flood {
		t.Fatalf("answers %v, want %d × 401", codes, flood)
	}
	h.noJobs(t)
	lines := strings.Count(h.logs.String(), `"message":"delivery refused"`)
	if lines > 5 {
		t.Errorf("%d refusal lines for %d bad deliveries, want at most 5", lines, flood)
	}
	if lines == 0 {
		t.Error("no refusal was logged at all")
	}
}
