// Command stamp is the tiny program the harness configures as a job's
// command: it appends the Unix time in nanoseconds at which it started and
// $WH_SHA to the file named by its argument.
package main

import (
	"os"
	"strconv"
	"time"
)

func main() {
	now := time.Now().UnixNano()
	if len(os.Args) != 2 {
		os.Stderr.WriteString("usage: stamp FILE\n")
		os.Exit(2)
	}
	f, err := os.OpenFile(os.Args[1], os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	_, err = f.WriteString(strconv.FormatInt(now, 10) + " " + os.Getenv("WH_SHA") + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
}
