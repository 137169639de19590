//go:build !linux

package gitsync

import "os"

// lstatAll lstats each of paths (made full by full) into out.
func lstatAll(paths []string, full func(string) string, out []preStat) {
	for i, p := range paths {
		fi, err := os.Lstat(full(p))
		out[i] = preStat{fi: fi, err: err}
	}
}
