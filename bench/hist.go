package main

import (
	"math/bits"
	"time"
)

// histSubBits sets the precision of a histogram: each power-of-two range of
// values is split into 2^(histSubBits-1) linear buckets, so a recorded
// value is known within 1/64 (1.6 %) of itself.
const histSubBits = 7

// histBuckets covers every non-negative int64 value.
const histBuckets = (1 << histSubBits) + (64-histSubBits)*(1<<(histSubBits-1))

// hist is an HDR-style histogram of durations in nanoseconds: log-bucketed
// (power-of-two ranges, each split linearly), fixed size, no allocation per
// value. It is not safe for concurrent use: give each load generator
// connection its own and merge them at the end.
type hist struct {
	counts [histBuckets]uint64
	n      uint64
	max    int64
}

// bucketOf maps a value to its bucket.
func bucketOf(v int64) int {
	if v < 1<<histSubBits {
		return int(max(v, 0))
	}
	shift := bits.Len64(uint64(v)) - histSubBits // ≥ 1
	sub := int(v>>shift) - 1<<(histSubBits-1)    // in [0, 2^(histSubBits-1))
	return 1<<histSubBits + (shift-1)<<(histSubBits-1) + sub
}

// bucketTop is the largest value that falls into bucket i.
func bucketTop(i int) int64 {
	if i < 1<<histSubBits {
		return int64(i)
	}
	i -= 1 << histSubBits
	shift := i>>(histSubBits-1) + 1
	sub := int64(i&(1<<(histSubBits-1)-1)) + 1<<(histSubBits-1)
	return (sub+1)<<shift - 1
}

func (h *hist) record(d time.Duration) {
	v := int64(d)
	h.counts[bucketOf(v)]++
	h.n++
	h.max = max(h.max, v)
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the value at or below which a fraction q of the recorded
// values lie (the top of its bucket, as HDR histograms report it, but never
// more than the largest value seen).
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(bucketTop(i), h.max))
		}
	}
	return time.Duration(h.max)
}
