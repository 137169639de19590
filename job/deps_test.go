package job_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The dependencies point one way: receiver speaks job and settings only
// (no git, no store, no pool, no metrics library), runner reaches git only
// through its own interfaces, metrics knows only job, and job imports
// nothing of wh-gitd.
func TestDependencyDirection(t *testing.T) {
	cases := []struct {
		pkg       string
		forbidden []string
	}{
		{"receiver", []string{"github.com/go-git/", "go.etcd.io/bbolt", "github.com/alitto/pond",
			"wh-gitd/runner", "wh-gitd/gitsync", "wh-gitd/jobstore", "wh-gitd/report", "wh-gitd/ui",
			"wh-gitd/metrics", "VictoriaMetrics", "prometheus"}},
		{"ui", []string{"github.com/go-git/", "go.etcd.io/bbolt", "github.com/alitto/pond",
			"wh-gitd/runner", "wh-gitd/gitsync", "wh-gitd/jobstore", "wh-gitd/receiver", "wh-gitd/report", "github.com/chromedp/"}},
		{"runner", []string{"wh-gitd/gitsync", "wh-gitd/jobstore", "wh-gitd/receiver", "wh-gitd/report", "github.com/go-git/",
			"wh-gitd/metrics", "VictoriaMetrics", "prometheus"}},
		// metrics implements the observers of receiver and runner in its own
		// terms: it speaks job, and knows neither of them.
		{"metrics", []string{"wh-gitd/receiver", "wh-gitd/runner", "wh-gitd/jobstore", "wh-gitd/settings",
			"wh-gitd/gitsync", "go.etcd.io/bbolt"}},
		{"job", []string{"github.com/wh-gitd/wh-gitd/settings", "github.com/rs/", "go.etcd.io/"}},
		{"gitsync", []string{"wh-gitd/job", "wh-gitd/runner", "wh-gitd/receiver", "wh-gitd/jobstore"}},
		// The job store keeps the outbox's messages opaque; the forges'
		// contracts are report's alone, which never reaches git or jobs' runs.
		{"jobstore", []string{"wh-gitd/report", "wh-gitd/settings", "wh-gitd/runner"}},
		{"report", []string{"wh-gitd/runner", "wh-gitd/receiver", "wh-gitd/gitsync", "github.com/go-git/"}},
		// The commands link no text/template (html/template is built on it):
		// its evaluation calls reflect.Value.MethodByName, and once that is
		// reachable the linker keeps every exported method of every type that
		// is ever put in an interface, megabytes of binary and of idle memory.
		{"cmd/wh-gitd", []string{"text/template", "html/template"}},
		{"cmd/wh-git-trigger", []string{"text/template", "html/template"}},
	}
	for _, tc := range cases {
		t.Run(tc.pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", "github.com/wh-gitd/wh-gitd/"+tc.pkg).CombinedOutput()
			if err != nil {
				t.Fatalf("go list: %v\n%s", err, out)
			}
			for _, dep := range strings.Fields(string(out)) {
				for _, f := range tc.forbidden {
					if strings.Contains(dep, f) {
						t.Errorf("%s depends on %s", tc.pkg, dep)
					}
				}
			}
		})
	}
}
