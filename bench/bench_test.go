package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestSmoke runs the harness in smoke mode: every row, for about a second
// each, with tiny repositories (shorter still under -short), so that CI
// exercises the harness. The numbers are not checked, only that every row
// ran. It takes about 15 s under -race (10 s with -short) once the build
// cache is warm; the rows are bounded at 50 s, the build of the binaries
// on its own (a cold build cache adds about 30 s on 2 cores).
func TestSmoke(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	cfg := smokeConfig(testing.Short())
	cfg.deadline = 50 * time.Second
	var out, log bytes.Buffer
	err := runConfig(context.Background(), cfg, options{smoke: true, short: testing.Short()}, &out, &log)
	t.Logf("progress:\n%s", log.String())
	t.Logf("table:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "| intake") && !strings.Contains(line, "CPU a request: daemon ") {
			t.Errorf("intake row without the CPU a request: %s", line)
		}
	}
	for _, want := range []string{"intake accepted (202), 64 conn", "intake ignored", "memory idle",
		"memory peak", "delivery → first command", "git sync small: first clone, depth 1",
		"git sync large: node_modules/", "burst:", "idle RSS, metrics on"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no row %q in the table", want)
		}
	}
}

func TestHistQuantiles(t *testing.T) {
	var h hist
	for i := 1; i <= 10_000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5 * time.Millisecond}, {0.99, 9900 * time.Microsecond}, {1, 10 * time.Millisecond}} {
		got := h.quantile(c.q)
		if got < c.want || float64(got) > float64(c.want)*1.02 {
			t.Errorf("quantile(%v) = %v, want %v within 2%%", c.q, got, c.want)
		}
	}
	for _, v := range []int64{0, 1, 127, 128, 129, 1 << 20, 1<<40 + 12345, 1<<62 + 1} {
		if top := bucketTop(bucketOf(v)); top < v || bucketOf(top) != bucketOf(v) || bucketOf(top+1) == bucketOf(v) {
			t.Errorf("value %d: bucket %d, top %d", v, bucketOf(v), top)
		}
	}
}

func TestPushPayload(t *testing.T) {
	sha1, sha2 := strings.Repeat("a", 40), strings.Repeat("b", 40)
	body, err := pushPayload(push{repository: "bench/site", ref: "refs/heads/main", before: sha1, after: sha2})
	if err != nil {
		t.Fatal(err)
	}
	if len(body) != payloadSize {
		t.Errorf("payload is %d bytes, want %d", len(body), payloadSize)
	}
	var p struct {
		Ref, After string
		Repository struct {
			FullName string `json:"full_name"`
		}
		Pusher struct{ Name string }
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Ref != "refs/heads/main" || p.After != sha2 || p.Repository.FullName != "bench/site" || p.Pusher.Name != "bench" {
		t.Errorf("decoded %+v", p)
	}
	if got := lastSHA(request{body: body}); got != sha2 {
		t.Errorf("lastSHA = %q", got)
	}
}

func TestOnlyLoopback(t *testing.T) {
	for _, u := range []string{"http://localhost:1/", "http://10.0.0.1/", "http://[::1]:80/"} {
		if loopbackURL(u) == nil {
			t.Errorf("%s accepted", u)
		}
	}
	if err := loopbackURL("http://127.0.0.1:9000/hooks/site"); err != nil {
		t.Error(err)
	}
}

func TestStatCPU(t *testing.T) {
	// A command name with spaces and parentheses, as /proc shows it; utime
	// 1234 and stime 56 ticks.
	line := []byte("4242 (wh (gitd) x) S 1 4242 4242 0 -1 4194560 500 0 0 0 1234 56 0 0 20 0 9 0 100 123456 789 18446744073709551615\n")
	got, err := statCPU(line)
	if want := 1290 * 10 * time.Millisecond; err != nil || got != want {
		t.Errorf("statCPU = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"", "4242 (wh) S 1 2", "4242 (wh) S 1 4242 4242 0 -1 4194560 500 0 0 0 x 56 0 0 20"} {
		if _, err := statCPU([]byte(bad)); err == nil {
			t.Errorf("statCPU(%q): no error", bad)
		}
	}
}
