package receiver_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
)

// BenchmarkIntake measures signed deliveries through the real handler on a
// real listener, with the real runner and its store: accepted pushes to one
// configured branch (each is written and synced before its 202), and pushes
// to an unconfigured branch (verify, decode, answer).
func BenchmarkIntake(b *testing.B) {
	for _, tc := range []struct{ name, branch string }{{"accepted", "main"}, {"ignored", "dev"}} {
		b.Run(tc.name, func(b *testing.B) {
			h := newHarness(b, harnessOpts{quiet: true, queue: 1000, branches: "      main: {commands: ['true']}"})
			sha := h.up.Commit(b, "main", map[string]string{"f": "1"}, "one")
			body := pushBody(b, "gh", tc.branch, zeroSHA, sha)
			sig := "sha256=" + hmacHex("gh-secret-0123456789", body)
			var n atomic.Int64
			b.SetBytes(int64(len(body)))
			b.RunParallel(func(pb *testing.PB) {
				client := &http.Client{}
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, h.url+"/hooks/gh", bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("X-GitHub-Event", "push")
					req.Header.Set("X-GitHub-Delivery", fmt.Sprint("bench-", n.Add(1)))
					req.Header.Set("X-Hub-Signature-256", sig)
					resp, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode/100 != 2 {
						b.Fatalf("status %d", resp.StatusCode)
					}
				}
			})
		})
	}
}
