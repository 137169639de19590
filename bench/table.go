package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// row is one line of the result table.
type row struct {
	name, result, git, ratio, target, met string
}

// printTable writes rows as a Markdown table with aligned columns.
func printTable(w io.Writer, rows []row) {
	cells := [][]string{{"row", "wh-gitd", "git CLI", "ratio", "target", "met"}}
	for _, r := range rows {
		cells = append(cells, []string{r.name, r.result, dash(r.git), dash(r.ratio), dash(r.target), dash(r.met)})
	}
	width := make([]int, len(cells[0]))
	for _, c := range cells {
		for i, s := range c {
			width[i] = max(width[i], utf8.RuneCountInString(s))
		}
	}
	line := func(c []string) {
		for i, s := range c {
			fmt.Fprintf(w, "| %s%s ", s, strings.Repeat(" ", width[i]-utf8.RuneCountInString(s)))
		}
		fmt.Fprintln(w, "|")
	}
	line(cells[0])
	sep := make([]string, len(width))
	for i, n := range width {
		sep[i] = strings.Repeat("-", n)
	}
	line(sep)
	for _, c := range cells[1:] {
		line(c)
	}
}

func dash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

func fmtDur(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// fmtMB writes bytes in decimal megabytes.
func fmtMB(b int64) string {
	if b < 100_000 {
		return fmt.Sprintf("%.2f MB", float64(b)/1e6)
	}
	return fmt.Sprintf("%.1f MB", float64(b)/1e6)
}

// fmtCount writes n with thousands separators.
func fmtCount(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// machine describes the host as /proc says.
func machine(gitVersion string) string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "unknown memory"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf("%.1f GiB memory", float64(kb)/(1<<20))
		}
	}
	kernel := "unknown kernel"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = "Linux " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%s, %d cores, %s, %s, %s, %s", model, runtime.NumCPU(), mem, kernel, runtime.Version(), gitVersion)
}
