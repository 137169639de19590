package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-playground/webhooks/v6/github"
)

// BenchmarkDecodePush compares what the receiver does with every GitHub
// push body (decode the 7 KB delivery into the webhooks library's
// PushPayload) with decoding only the fields wh-gitd uses. Evidence for
// BENCHMARKS.md; run with go test -run - -bench DecodePush -benchmem ./bench.
func BenchmarkDecodePush(b *testing.B) {
	body, err := pushPayload(push{repository: "bench/site", ref: "refs/heads/main",
		before: strings.Repeat("a", 40), after: strings.Repeat("b", 40)})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("library-PushPayload", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var p github.PushPayload
			if err := json.Unmarshal(body, &p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("only-used-fields", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var p struct {
				Ref, Before, After string
				Deleted            bool
				Repository         struct {
					FullName string `json:"full_name"`
				}
				Pusher struct{ Name string }
			}
			if err := json.Unmarshal(body, &p); err != nil {
				b.Fatal(err)
			}
		}
	})
}
