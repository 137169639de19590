package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuClock is a reading of the machine's busy CPU time and of the CPU time
// of this process and its waited-for descendants (the daemons, git, the
// triggers), so that the CPU other processes on the machine used meanwhile
// can be told: on a shared machine it explains noisy rows.
type cpuClock struct {
	at         time.Time
	busy, self time.Duration
}

func readCPUClock() cpuClock {
	c := cpuClock{at: time.Now()}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		for i, v := range f[1:] {
			if i == 3 || i == 4 || i >= 8 { // idle, iowait, guest, guest_nice
				continue
			}
			n, _ := strconv.ParseInt(v, 10, 64)
			c.busy += time.Duration(n) * 10 * time.Millisecond // USER_HZ is 100 on Linux
		}
	}
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			c.self += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return c
}

// otherLoad is the average number of cores used by processes outside this
// run's process tree since c.
func (c cpuClock) otherLoad() float64 {
	now := readCPUClock()
	wall := now.at.Sub(c.at)
	if wall <= 0 {
		return 0
	}
	other := (now.busy - c.busy) - (now.self - c.self)
	return max(0, float64(other)/float64(wall))
}

func fmtLoad(name string, cores float64) string {
	return fmt.Sprintf("%s %.2f", name, cores)
}

// waitQuiet waits, at most limit, until other processes use less than
// threshold cores over a second, so that a row is not measured while
// something else (a build, another test suite) shares the cores. It returns
// the load of the last second.
func waitQuiet(e *benchEnv, threshold float64, limit time.Duration) float64 {
	deadline := time.Now().Add(limit)
	for {
		c := readCPUClock()
		time.Sleep(time.Second)
		load := c.otherLoad()
		if load < threshold || time.Now().After(deadline) {
			return load
		}
		e.logf("waiting for a quieter machine: other processes use %.2f cores", load)
	}
}
