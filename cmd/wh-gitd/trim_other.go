//go:build !linux

package main

// giveBackCode does nothing here: reclaiming a program's own pages
// is Linux's MADV_PAGEOUT.
func giveBackCode() {}
