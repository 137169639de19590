//go:build !linux

package main

// giveBackStartCode does nothing here: reclaiming a program's own pages
// is Linux's MADV_PAGEOUT.
func giveBackStartCode() {}
