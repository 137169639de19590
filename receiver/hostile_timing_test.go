//go:build hostile

package receiver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"net/http"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/settings"
)

// timing is what sameTime measured.
type timing struct {
	medA, medB time.Duration // median time of one call
	diff       time.Duration // median of the paired differences b-a, per call
	stderr     time.Duration // standard error of diff
}

// sameTime times a and b in interleaved pairs, alternating which runs first
// so that drift, caches and frequency changes hit both alike, each sample a
// batch of calls so that the clock's resolution does not matter. The median
// of the paired differences is robust to the outliers a noisy machine makes
// (a preemption lands in one sample of one pair and moves the median by
// nothing). Two operations take "the same time" when that median is within
// tol of one call's median time.
func sameTime(a, b func(), pairs, batch int, tol float64) (timing, bool) {
	runtime.GC()
	as, bs, ds := make([]float64, pairs), make([]float64, pairs), make([]float64, pairs)
	run := func(f func()) float64 {
		start := time.Now()
		for range batch {
			f()
		}
		return float64(time.Since(start)) / float64(batch)
	}
	for i := range pairs {
		if i%2 == 0 {
			as[i] = run(a)
			bs[i] = run(b)
		} else {
			bs[i] = run(b)
			as[i] = run(a)
		}
		ds[i] = bs[i] - as[i]
	}
	m := timing{medA: time.Duration(median(as)), medB: time.Duration(median(bs)), diff: time.Duration(median(ds))}
	// The difference must stand out both from the operation (tol of its
	// time) and from the noise (4 standard errors of the median, estimated
	// robustly from the spread of the differences).
	mad := make([]float64, pairs)
	for i, d := range ds {
		mad[i] = math.Abs(d - float64(m.diff))
	}
	m.stderr = time.Duration(1.2533 * 1.4826 * median(mad) / math.Sqrt(float64(pairs)))
	limit := max(tol*float64(m.medA), 4*float64(m.stderr))
	return m, math.Abs(float64(m.diff)) <= limit
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// Timing tolerance and sample sizes: generous, so that a busy 2-core
// machine (and -race) does not make the check flaky, yet tight enough that
// the leaky comparator below is caught (see the "method" sub-test).
const (
	timingPairs = 4000
	timingBatch = 20
	timingTol   = 0.01
)

// leakyEqual is a deliberately non-constant-time comparison: it stops at the
// first differing byte, as bytes.Equal-like loops do.
func leakyEqual(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// leakyCheckHMAC is checkHMAC with leakyEqual in place of hmac.Equal: the
// kind of regression the timing check must catch.
func leakyCheckHMAC(secret string, body []byte, hexSig string) bool {
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return leakyEqual(m.Sum(nil), got)
}

// flipped returns sig (hex) with byte i of the digest changed.
func flipped(sig string, i int) string {
	return flippedBy(sig, i, 0xff)
}

func flippedBy(sig string, i int, x byte) string {
	raw, _ := hex.DecodeString(sig)
	raw[i] ^= x
	return hex.EncodeToString(raw)
}

// timingVariants is how many different wrong signatures each side of a
// timing comparison cycles through. One fixed string per side would let
// where the runtime happened to put it (cache lines, and under -race its
// shadow memory) show as a steady difference of tens of nanoseconds that
// has nothing to do with the comparison; cycling through many averages
// that out, while a leak, which depends only on where the wrong byte is,
// stays.
const timingVariants = 32

// cycling returns a func that calls f with each of args in turn.
func cycling[T any](args []T, f func(T)) func() {
	i := 0
	return func() {
		f(args[i])
		i = (i + 1) % len(args)
	}
}

// wrongAt returns timingVariants signatures, each sig with byte i changed
// by a different value.
func wrongAt(sig string, i int) []string {
	out := make([]string, timingVariants)
	for k := range out {
		out[k] = flippedBy(sig, i, byte(0xff-k))
	}
	return out
}

// A signature wrong in its first byte and one wrong in its last byte are
// refused in statistically the same time, for every provider: the
// comparison does not stop at the first difference.
func TestHostileSignatureTiming(t *testing.T) {
	const secret = "timing-secret"
	body := []byte(`{"ref":"refs/heads/main"}`)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	good := hex.EncodeToString(m.Sum(nil))
	first, last := wrongAt(good, 0), wrongAt(good, sha256.Size-1)

	// The method must be able to fail: on the leaky comparator, with the
	// same HMAC work around it, a wrong first byte returns measurably sooner
	// than a wrong last byte.
	t.Run("method detects a leaky comparator", func(t *testing.T) {
		a := cycling(first, func(sig string) { leakyCheckHMAC(secret, body, sig) })
		b := cycling(last, func(sig string) { leakyCheckHMAC(secret, body, sig) })
		// A leak shows as b slower than a; retry a couple of times so that a
		// burst of noise cannot hide it.
		for attempt := 1; ; attempt++ {
			m, same := sameTime(a, b, timingPairs, timingBatch, timingTol)
			t.Logf("attempt %d: first %s, last %s, median difference %s (standard error %s)", attempt, m.medA, m.medB, m.diff, m.stderr)
			if !same && m.diff > 0 {
				return
			}
			if attempt == 3 {
				t.Fatalf("the method did not see the leaky comparator's difference: too noisy to judge")
			}
		}
	})

	header := func(provider, sig string) http.Header {
		h := http.Header{}
		switch provider {
		case settings.GitHub:
			h.Set("X-Hub-Signature-256", "sha256="+sig)
		case settings.Gogs:
			h.Set("X-Gogs-Signature", sig)
		case settings.GitLab:
			h.Set("X-Gitlab-Token", sig)
		}
		return h
	}
	for _, provider := range []string{settings.GitHub, settings.Gogs, settings.GitLab} {
		t.Run(provider, func(t *testing.T) {
			key := secret
			if provider == settings.GitLab { // the token is the secret itself
				key = good
			}
			var hFirst, hLast []http.Header
			for k := range timingVariants {
				hFirst = append(hFirst, header(provider, first[k]))
				hLast = append(hLast, header(provider, last[k]))
				for _, h := range []http.Header{hFirst[k], hLast[k]} {
					if _, ok := verify(provider, key, h, body); ok {
						t.Fatal("a wrong signature verified")
					}
				}
			}
			check := func(h http.Header) { verify(provider, key, h, body) }
			a, b := cycling(hFirst, check), cycling(hLast, check)
			// A false alarm needs three noisy runs in a row.
			for attempt := 1; ; attempt++ {
				m, same := sameTime(a, b, timingPairs, timingBatch, timingTol)
				t.Logf("attempt %d: first %s, last %s, median difference %s (standard error %s)", attempt, m.medA, m.medB, m.diff, m.stderr)
				if same {
					return
				}
				if attempt == 3 {
					t.Fatalf("wrong first byte and wrong last byte differ by %s (%.1f%% of %s)",
						m.diff, 100*float64(m.diff)/float64(m.medA), m.medA)
				}
			}
		})
	}
}
