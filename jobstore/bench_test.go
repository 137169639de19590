package jobstore

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/job"
)

// BenchmarkAccept measures the synchronous write behind a 202: a queued
// record with a 7 KB body and its delivery id, from 8 writers at once as
// 8 connections deliver.
func BenchmarkAccept(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "state"), time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	body := bytes.Repeat([]byte(`{"k":"v"},`), 700)
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			id := fmt.Sprintf("20261203T000000-%08d", i)
			rec := &job.Record{Job: &job.Job{ID: id, Repo: "site", Provider: "github", Event: job.EventPush,
				Delivery: fmt.Sprintf("d-%d", i), Ref: "refs/heads/main", Branch: "main",
				SHA: "0123456789abcdef0123456789abcdef01234567", Before: "0123456789abcdef0123456789abcdef01234567",
				Pusher: "someone", Queued: time.Now()}, State: job.Queued}
			if err := s.Accept(rec, body); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
