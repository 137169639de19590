package settings

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	repoName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	envKey   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

	logLevels      = []string{"trace", "debug", "info", "warn", "error"}
	logFormats     = []string{"json", "console"}
	providers      = []string{GitHub, GitLab, Gogs, Gitea, Forgejo, Git}
	deployStatuses = []string{"created", "running", "success", "failed", "canceled"}
)

// Validate reports every problem of s at once, joined with errors.Join, each
// as "key.path: message (got value)". It never shows a secret. It reads the
// file system (parent folders, credential files) but changes nothing.
func (s *Settings) Validate() error {
	return s.check().err(nil)
}

func (s *Settings) check() problems {
	var ps problems
	s.checkDaemon(&ps)
	names := s.RepoNames()
	if len(names) == 0 {
		ps.add("repos", "at least one repository is required")
	}
	for _, name := range names {
		checkRepo(&ps, name, s.Repos[name])
	}
	s.checkOverlaps(&ps, names)
	s.checkJobs(&ps)
	s.checkReport(&ps)
	s.checkUI(&ps)
	s.checkMetrics(&ps)
	return ps
}

func (s *Settings) checkDaemon(ps *problems) {
	if msg := listenProblem(s.Listen); msg != "" {
		ps.add("listen", "%s (got %q)", msg, s.Listen)
	}
	atLeast(ps, "workers", s.Workers, 1)
	atLeast(ps, "queue_size", s.QueueSize, 1)
	atLeast(ps, "max_attempts", s.MaxAttempts, 1)
	if s.StateDir == "" {
		ps.add("state_dir", "required")
	}
	atLeast(ps, "max_body_bytes", s.MaxBodyBytes, 1024)
	positive(ps, "shutdown_grace", s.ShutdownGrace)
	positive(ps, "kill_grace", s.KillGrace)
	oneOf(ps, "log.level", s.Log.Level, logLevels)
	oneOf(ps, "log.format", s.Log.Format, logFormats)
	s.checkNetwork(ps)
	if msg := publicURLProblem(s.PublicURL); msg != "" {
		ps.add("public_url", "%s (got %q)", msg, s.PublicURL)
	}
}

// publicURLProblem accepts an absolute http or https URL with a host and
// no query, fragment or credentials; empty is allowed (no links).
func publicURLProblem(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		return "must be an absolute http:// or https:// URL, such as https://deploy.example.com"
	case u.User != nil:
		return "must not hold credentials"
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "must not have a query or fragment"
	}
	return ""
}

func listenProblem(listen string) string {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "must be host:port, such as 127.0.0.1:9000"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "port must be a number from 0 (any free port) to 65535"
	}
	return ""
}

func checkRepo(ps *problems, name string, r *Repo) {
	p := "repos." + name
	if !repoName.MatchString(name) {
		ps.add("repos", "entry name must match %s (got %q)", repoName, name)
	}
	if r == nil {
		ps.add(p, "must not be empty")
		return
	}
	checkSource(ps, p, r)
	if r.Provider == Git {
		checkPushEntry(ps, p, r)
	} else {
		checkSecret(ps, p, r)
		if len(r.PushKeys) > 0 {
			ps.add(p+".push_keys", "only used with provider: git (got %q)", r.PushKeys)
		}
	}
	checkAuth(ps, p, r)
	checkCIDRs(ps, p+".allow", r.Allow)
	if r.Depth < 0 {
		ps.add(p+".depth", "must be 0 (full history) or more (got %d)", r.Depth)
	}
	positive(ps, p+".git_timeout", r.GitTimeout)
	for i, status := range r.DeployOn {
		oneOf(ps, fmt.Sprintf("%s.deploy_on[%d]", p, i), status, deployStatuses)
	}
	checkTargets(ps, p, r)
}

func checkTargets(ps *problems, p string, r *Repo) {
	if len(r.Branches)+len(r.Environments) == 0 {
		ps.add(p, "needs at least one branch or environment")
	}
	for _, name := range slices.Sorted(maps.Keys(r.Branches)) {
		if msg := branchNameProblem(name); msg != "" {
			ps.add(p+".branches", "not a valid git branch name: %s (got %q)", msg, name)
		}
		t, tp := r.Branches[name], p+".branches."+name
		if t != nil && t.Branch != "" {
			ps.add(tp+".branch", "only used under environments (got %q)", t.Branch)
		}
		if t != nil && len(t.Refs) > 0 {
			ps.add(tp+".refs", "only used under environments (got %q)", t.Refs)
		}
		checkTarget(ps, tp, t)
	}
	for _, name := range slices.Sorted(maps.Keys(r.Environments)) {
		if name == "" || strings.IndexFunc(name, isControl) >= 0 {
			ps.add(p+".environments", "not a valid environment name (got %q)", name)
		}
		t, tp := r.Environments[name], p+".environments."+name
		if t != nil && t.Branch != "" {
			if msg := branchNameProblem(t.Branch); msg != "" {
				ps.add(tp+".branch", "not a valid git branch name: %s (got %q)", msg, t.Branch)
			}
		}
		if t != nil {
			checkRefs(ps, tp+".refs", t.Refs)
		}
		checkTarget(ps, tp, t)
	}
}

// checkRefs checks an environment's ref patterns, as path.Match reads them.
func checkRefs(ps *problems, p string, refs []string) {
	for i, pattern := range refs {
		key := fmt.Sprintf("%s[%d]", p, i)
		if pattern == "" {
			ps.add(key, "must not be empty (a branch, a tag or a pattern such as v* or release/*)")
		} else if _, err := path.Match(pattern, ""); err != nil {
			ps.add(key, `not a valid pattern: use *, ?, [a-z] and \ to escape; * never matches / (got %q)`, pattern)
		}
	}
}

func isControl(r rune) bool { return r < ' ' || r == 0x7f }

func checkTarget(ps *problems, p string, t *Target) {
	if t == nil {
		ps.add(p, "must not be empty")
		return
	}
	if len(t.Commands) == 0 {
		ps.add(p+".commands", "at least one command is required")
	}
	checkCommands(ps, p+".commands", t.Commands)
	checkCommands(ps, p+".on_failure", t.OnFailure)
	checkCommands(ps, p+".always", t.Always)
	if msg := workdirProblem(t.Workdir); msg != "" {
		ps.add(p+".workdir", "%s (got %q)", msg, t.Workdir)
	}
	for _, k := range slices.Sorted(maps.Keys(t.Env)) {
		switch {
		case !envKey.MatchString(k):
			ps.add(p+".env", "not a valid variable name (got %q)", k)
		case strings.HasPrefix(strings.ToUpper(k), "WH_"):
			ps.add(p+".env", "names starting with WH_ are reserved for the daemon (got %q)", k)
		}
	}
	positive(ps, p+".timeout", t.Timeout)
	if t.Path != "" {
		if msg := pathProblem(t.Path); msg != "" {
			ps.add(p+".path", "%s (got %q)", msg, t.Path)
		}
	}
}

func checkCommands(ps *problems, p string, cs []Command) {
	for i, c := range cs {
		if msg := commandProblem(c); msg != "" {
			ps.add(fmt.Sprintf("%s[%d]", p, i), "%s", msg)
		}
	}
}

func commandProblem(c Command) string {
	switch {
	case c.Shell != "" && c.Argv != nil:
		return "set a shell string or an argv list, not both"
	case c.Argv != nil && len(c.Argv) == 0:
		return "an argv list needs at least the program"
	case c.Argv != nil && c.Argv[0] == "":
		return "the first item of an argv list (the program) must not be empty"
	case c.Argv == nil && strings.TrimSpace(c.Shell) == "":
		return "must not be empty"
	}
	return ""
}

func workdirProblem(dir string) string {
	clean := filepath.Clean(dir)
	switch {
	case dir == "":
		return `must not be empty (use "." for the working copy itself)`
	case filepath.IsAbs(dir):
		return "must be relative to the working copy"
	case clean == ".." || strings.HasPrefix(clean, "../"):
		return "must stay inside the working copy"
	}
	return ""
}

// branchNameProblem applies the rules of git check-ref-format to
// refs/heads/name. Names such as "-rf", "$(id)" or "x;rm" are valid: they
// never reach a shell string.
func branchNameProblem(name string) string {
	switch {
	case name == "":
		return "is empty"
	case strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/"):
		return "starts or ends with /"
	case strings.HasSuffix(name, "."):
		return "ends with ."
	case strings.Contains(name, "//"):
		return "holds //"
	case strings.Contains(name, ".."):
		return "holds .."
	case strings.Contains(name, "@{"):
		return "holds @{"
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c < ' ' || c == 0x7f:
			return "holds a control character"
		case c == ' ':
			return "holds a space"
		case strings.IndexByte(`~^:?*[\`, c) >= 0:
			return fmt.Sprintf("holds %q", c)
		}
	}
	for _, part := range strings.Split(name, "/") {
		if strings.HasPrefix(part, ".") || strings.HasSuffix(part, ".lock") {
			return "a component starts with . or ends with .lock"
		}
		if part == "@" { // git allows it; go-git, which syncs, refuses it
			return "a component is @, which the sync cannot fetch"
		}
	}
	return ""
}

func atLeast[T int | int64](ps *problems, path string, v, lowest T) {
	if v < lowest {
		ps.add(path, "must be at least %d (got %d)", lowest, v)
	}
}

func positive(ps *problems, path string, d time.Duration) {
	if d <= 0 {
		ps.add(path, "must be positive (got %s)", d)
	}
}

func oneOf(ps *problems, path, v string, allowed []string) {
	if !slices.Contains(allowed, v) {
		ps.add(path, "must be one of %s (got %q)", strings.Join(allowed, ", "), v)
	}
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// readable reports whether path is a file this process can open.
func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return errors.New("is a folder")
	}
	return nil
}

// reason is err without the path an *fs.PathError repeats.
func reason(err error) string {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Err.Error()
	}
	return err.Error()
}
