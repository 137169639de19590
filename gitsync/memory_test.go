package gitsync

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// TestMemoryBound checks the memory limit set while syncs run: one is set,
// it follows the live heap up (a sync needing more memory gets it), it
// stays until the last of two overlapping syncs ends, and a lower limit of
// the process's own is kept and restored. Not parallel: the limit is the
// process's, and parallel tests (whose syncs set it) wait for this one.
func TestMemoryBound(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	b := newMemoryBound()
	leave := b.enter()
	first := debug.SetMemoryLimit(-1)
	if first == math.MaxInt64 {
		t.Fatal("no memory limit while a sync runs")
	}

	const held = 64 << 20
	hold := make([]byte, held)
	for i := 0; i < len(hold); i += 4096 {
		hold[i] = 1
	}
	var limit int64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // the check runs after the collection, on its own goroutine
		if limit = debug.SetMemoryLimit(-1); limit >= held+held/2 {
			break
		}
	}
	if limit < held+held/2 {
		t.Errorf("limit %d MiB with %d MiB live, want at least %d MiB (live and half of it)",
			limit>>20, held>>20, (held+held/2)>>20)
	}
	runtime.KeepAlive(hold)

	other := b.enter()
	leave()
	if got := debug.SetMemoryLimit(-1); got == math.MaxInt64 {
		t.Error("the limit went when the first of two overlapping syncs ended")
	}
	leave() // a second call changes nothing
	other()
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("limit %d after the last sync, want none", got)
	}

	const own = 5 << 20
	debug.SetMemoryLimit(own)
	leave = b.enter()
	if got := debug.SetMemoryLimit(-1); got != own {
		t.Errorf("limit %d with the process's own at %d, want it kept", got, own)
	}
	leave()
	if got := debug.SetMemoryLimit(-1); got != own {
		t.Errorf("limit %d after the sync, want the process's own %d back", got, own)
	}
}

// TestCheckoutCachesFewBlobs checks that a checkout does not fill go-git's
// object cache with the blobs it writes, and gives the cache its bound
// back after.
func TestCheckoutCachesFewBlobs(t *testing.T) {
	t.Parallel()
	f, _ := newDeployed(t, map[string]string{"a": "a"})
	rng := rand.New(rand.NewPCG(1, 2))
	files := make(map[string]string)
	// 200 blobs of 8 KB (1.6 MB), none a delta of another: fewer files
	// than make the writers read blobs from the packs themselves, so that
	// go-git reads them all.
	for i := range 200 {
		b := make([]byte, 8<<10)
		for j := range b {
			b[j] = byte('a' + rng.IntN(26))
		}
		files[fmt.Sprintf("d%d/f%03d", i%5, i)] = string(b)
	}
	f.up.Commit(t, "main", files, "many")

	wc, commit, jl := openFetched(t, f)
	co, err := newCheckout(context.Background(), wc, wc.headCommit(), commit, jl, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := co.run(); err != nil || co.written != 200 || co.fromPacks != 0 {
		t.Fatalf("run = %v, %d written, %d from packs", err, co.written, co.fromPacks)
	}
	var cached int64
	for _, l := range co.target {
		if obj, ok := wc.st.objects.Get(l.hash); ok && obj.Type() == plumbing.BlobObject {
			cached += obj.Size()
		}
	}
	if cached > checkoutCacheSize {
		t.Errorf("%d KB of the written blobs in the object cache, want at most %d KB", cached>>10, checkoutCacheSize>>10)
	}
	if wc.st.objects.MaxSize != objectCacheSize {
		t.Errorf("object cache bound %d after the checkout, want %d", wc.st.objects.MaxSize, objectCacheSize)
	}
}
