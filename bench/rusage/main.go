// Command rusage runs a program and writes its wall time (ns) and its peak
// resident memory (KiB) to a file:
//
//	rusage RESULT PROGRAM [ARG...]
//
// The memory is wait4's ru_maxrss of the child, which on Linux covers the
// child and every descendant it waited for. The harness cannot measure it
// directly: its children share its address space until they exec (vfork),
// and Linux then carries the parent's high-water mark into the child's
// ru_maxrss, so every child would seem at least as large as the harness.
// This program is small, so that floor is small too.
package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		fail(2, "usage: rusage RESULT PROGRAM [ARG...]")
	}
	path, err := lookPath(os.Args[2])
	if err != nil {
		fail(127, err.Error())
	}
	start := time.Now()
	p, err := os.StartProcess(path, os.Args[2:], &os.ProcAttr{Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}})
	if err != nil {
		fail(127, err.Error())
	}
	st, err := p.Wait()
	wall := time.Since(start)
	if err != nil {
		fail(1, err.Error())
	}
	ru, _ := st.SysUsage().(*syscall.Rusage)
	var maxrss int64
	if ru != nil {
		maxrss = ru.Maxrss
	}
	line := strconv.FormatInt(int64(wall), 10) + " " + strconv.FormatInt(maxrss, 10) + "\n"
	if err := os.WriteFile(os.Args[1], []byte(line), 0o644); err != nil {
		fail(1, err.Error())
	}
	os.Exit(st.ExitCode())
}

// lookPath finds a program on PATH as a shell does.
func lookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New(name + ": not found on PATH")
}

func fail(code int, msg string) {
	os.Stderr.WriteString("rusage: " + msg + "\n")
	os.Exit(code)
}
