package metrics

import (
	"bytes"
	"io"
	"os"
	"runtime"
	rm "runtime/metrics"
	"strconv"
	"syscall"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
)

// The Go runtime's and the process's own metrics, under the names the
// Prometheus client libraries give them. They are a few read at each
// scrape, with little garbage: the libraries' full sets cost an idle
// daemon more resident memory than the rest of its metrics together
// (BENCHMARKS.md).

// goSamples are the runtime/metrics read at each scrape, by the name they
// are written under.
var goSamples = []struct{ name, key string }{
	{"go_goroutines", "/sched/goroutines:goroutines"},
	{"go_memstats_heap_alloc_bytes", "/memory/classes/heap/objects:bytes"},
	{"go_memstats_sys_bytes", "/memory/classes/total:bytes"},
	{"go_memstats_next_gc_bytes", "/gc/heap/goal:bytes"},
}

// userHZ is the unit of the CPU times in /proc/PID/stat on Linux.
const userHZ = 100

// writeGo writes the Go runtime's metrics.
func writeGo(w io.Writer) {
	s := make([]rm.Sample, len(goSamples)+1)
	for i, g := range goSamples {
		s[i].Name = g.key
	}
	s[len(goSamples)].Name = "/gc/cycles/total:gc-cycles"
	rm.Read(s)
	for i, g := range goSamples {
		if s[i].Value.Kind() == rm.KindUint64 {
			vm.WriteGaugeUint64(w, g.name, s[i].Value.Uint64())
		}
	}
	if v := s[len(goSamples)].Value; v.Kind() == rm.KindUint64 {
		vm.WriteCounterUint64(w, "go_gc_cycles_total", v.Uint64())
	}
	vm.WriteGaugeUint64(w, `go_info{version="`+runtime.Version()+`"}`, 1)
}

// writeProcess writes the process's CPU time, memory, file descriptors and
// start time (when New ran), as far as /proc tells them.
func writeProcess(w io.Writer, started time.Time) {
	vm.WriteGaugeFloat64(w, "process_start_time_seconds", float64(started.Unix()))
	if stat, err := os.ReadFile("/proc/self/stat"); err == nil {
		writeStat(w, stat)
	}
	if d, err := os.Open("/proc/self/fd"); err == nil {
		names, err := d.Readdirnames(-1)
		d.Close()
		if err == nil {
			vm.WriteGaugeUint64(w, "process_open_fds", uint64(max(len(names)-1, 0))) // less the one reading it
		}
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		vm.WriteGaugeUint64(w, "process_max_fds", lim.Cur)
	}
}

// writeStat writes the CPU time and memory of /proc/self/stat: the fields
// after the command name in parentheses, utime and stime (14, 15), vsize
// and rss (23, 24).
func writeStat(w io.Writer, stat []byte) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return
	}
	f := bytes.Fields(stat[i+1:]) // f[0] is field 3
	if len(f) < 22 {
		return
	}
	num := func(field int) uint64 {
		n, _ := strconv.ParseUint(string(f[field-3]), 10, 64)
		return n
	}
	vm.WriteCounterFloat64(w, "process_cpu_seconds_total", float64(num(14)+num(15))/userHZ)
	vm.WriteGaugeUint64(w, "process_virtual_memory_bytes", num(23))
	vm.WriteGaugeUint64(w, "process_resident_memory_bytes", num(24)*uint64(os.Getpagesize()))
}
