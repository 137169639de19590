package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/settings"
)

// installStepsInfo is the info string of README.md's fenced blocks that,
// taken in order, install wh-gitd as a systemd service.
const installStepsInfo = "sh install-steps"

// TestInstallSteps runs README.md's install steps as written, with every
// absolute path they write moved into a scratch root, and checks that the
// binaries, the settings, the folders, their modes and owners and the unit
// end where the unit expects them. The user is created in a copy of this
// machine's user database inside the scratch root (useradd --prefix); the
// steps that act on a running systemd are skipped as subtests saying why.
func TestInstallSteps(t *testing.T) {
	requireInstallTools(t)
	unit := readUnit(t, "../../systemd/wh-gitd.service")
	user, group := unit.one(t, "User"), unit.one(t, "Group")
	steps := installSteps(t, "../../README.md")
	root := scratchRoot(t, user, group)
	script := rewriteSteps(t, steps, root, user, group)
	hostHad := hostHasUser(t, user)
	runSteps(t, script, root)
	if !hostHad && hostHasUser(t, user) {
		t.Fatalf("the install steps created %s in this machine's /etc/passwd, not the scratch root's", user)
	}

	acct := readAccount(t, root, user, group)
	checkAccount(t, unit, acct)
	checkUnitInstalled(t, root, unit)
	set := checkSettingsInstalled(t, root, unit, acct)
	checkWritablePaths(t, root, unit, acct, set)
}

// hostHasUser reports whether this machine's /etc/passwd has user.
func hostHasUser(t *testing.T, user string) bool {
	t.Helper()
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	return strings.HasPrefix(string(b), user+":") || strings.Contains(string(b), "\n"+user+":")
}

// requireInstallTools skips the test, or fails it under CI, when the steps
// cannot run here.
func requireInstallTools(t *testing.T) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (the steps set owners)")
	}
	for _, tool := range []string{"bash", "awk", "useradd", "setpriv", "systemctl", "systemd-analyze"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if out, _ := exec.Command("go", "env", "GOBIN").Output(); strings.TrimSpace(string(out)) != "" {
		missing = append(missing, "an empty GOBIN (the steps read $(go env GOPATH)/bin)")
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("the install steps need %s", strings.Join(missing, ", "))
	}
	t.Skipf("the install steps need %s", strings.Join(missing, ", "))
}

// installSteps returns the lines of README's install-steps blocks, in order.
func installSteps(t *testing.T, readme string) []string {
	t.Helper()
	f, err := os.Open(readme)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	in, blocks := false, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case !in && line == "```"+installStepsInfo:
			in, blocks = true, blocks+1
		case in && line == "```":
			in = false
		case in:
			lines = append(lines, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if blocks == 0 || in {
		t.Fatalf("%s: want closed ```%s blocks, found %d (open at the end: %v)", readme, installStepsInfo, blocks, in)
	}
	return lines
}

// scratchRoot makes the folders a fresh Debian machine has, and a copy of
// this machine's user database without user and group, for useradd --prefix.
func scratchRoot(t *testing.T, user, group string) string {
	t.Helper()
	root := t.TempDir()
	// The service user must be able to reach the files below root.
	for _, dir := range []string{filepath.Dir(root), root} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{"etc/systemd/system", "usr/local/bin", "var/lib", "srv"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"passwd", "group", "shadow", "gshadow", "login.defs"} {
		b, err := os.ReadFile(filepath.Join("/etc", name))
		if os.IsNotExist(err) && name == "login.defs" {
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		var kept []string
		for _, line := range strings.SplitAfter(string(b), "\n") {
			if !strings.HasPrefix(line, user+":") && !strings.HasPrefix(line, group+":") {
				kept = append(kept, line)
			}
		}
		testkit.WriteFile(t, filepath.Join(root, "etc", name), strings.Join(kept, ""))
	}
	return root
}

// stepPreamble gives the rewritten steps the scratch root's ids by name.
const stepPreamble = `: "${ROOT:?}"
uid_of()  { awk -F: -v n="$1" '$1 == n { print $3 }' "$ROOT/etc/passwd"; }
pgid_of() { awk -F: -v n="$1" '$1 == n { print $4 }' "$ROOT/etc/passwd"; }
gid_of()  { awk -F: -v n="$1" '$1 == n { print $3 }' "$ROOT/etc/group"; }
`

// runSteps runs the rewritten steps from the checkout with bash, as a root
// shell would, building into a scratch GOPATH.
func runSteps(t *testing.T, script, root string) {
	t.Helper()
	checkout, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	modcache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-eu", "-o", "pipefail", "-x", "-c", stepPreamble+script)
	cmd.Dir = checkout
	cmd.Env = append(os.Environ(), "ROOT="+root, "GOPATH="+t.TempDir(),
		"GOMODCACHE="+strings.TrimSpace(string(modcache)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install steps: %v\n%s", err, out)
	}
}

// A stepRule rewrites a line of the install steps that cannot run as it is
// against the scratch root. skip, when set, names what of the line is not
// run here and why; repl "" then runs nothing.
type stepRule struct {
	re       *regexp.Regexp
	repl     string
	skip     string
	keepPath bool // the rewritten command maps paths into the root itself
}

// stepRules are the rewrites; their templates use ${n} for a group and $$
// for a literal $, as regexp.Expand reads them.
func stepRules(root, user string) []stepRule {
	systemd := "needs systemd running as PID 1, and would act on this machine's own units rather than the scratch root's"
	return []stepRule{
		{re: regexp.MustCompile(`^(\s*)(useradd|groupadd) `), repl: `${1}${2} --prefix ` + root + ` `, keepPath: true},
		{re: regexp.MustCompile(`^(\s*)runuser -u ` + regexp.QuoteMeta(user) + ` -- `),
			repl: `${1}setpriv --reuid="$$(uid_of ` + user + `)" --regid="$$(pgid_of ` + user + `)" --clear-groups -- `},
		{re: regexp.MustCompile(`^\s*systemctl daemon-reload$`), skip: systemd},
		{re: regexp.MustCompile(`^(\s*)systemctl enable --now (\S+)$`),
			repl: `${1}systemctl --root=` + root + ` enable ${2}`, skip: "the start " + systemd, keepPath: true},
	}
}

// rewriteSteps turns the README's steps into a script that writes only below
// root: absolute paths move into it (spelt out, as a quoted here-document
// expands nothing), owners named user and group become the scratch root's
// ids, and each step a running systemd would take is skipped.
func rewriteSteps(t *testing.T, steps []string, root, user, group string) string {
	t.Helper()
	if !regexp.MustCompile(`^/[A-Za-z0-9/._-]+$`).MatchString(root) {
		t.Fatalf("scratch root %q would need quoting in a shell command", root)
	}
	owner := regexp.MustCompile(`-([og]) (` + regexp.QuoteMeta(user) + `|` + regexp.QuoteMeta(group) + `)(\s|$)`)
	rules := stepRules(root, user)
	var out []string
	for _, line := range steps {
		mapPaths := true
		for _, r := range rules {
			if !r.re.MatchString(line) {
				continue
			}
			if r.skip != "" {
				t.Run(line, func(t *testing.T) { t.Skip(r.skip) })
			}
			line, mapPaths = r.re.ReplaceAllString(line, r.repl), !r.keepPath
			break
		}
		guardHost(t, line, root)
		line = owner.ReplaceAllStringFunc(line, func(m string) string {
			sm := owner.FindStringSubmatch(m)
			fn := map[string]string{"o": "uid_of", "g": "gid_of"}[sm[1]]
			return "-" + sm[1] + ` "$(` + fn + " " + sm[2] + `)"` + sm[3]
		})
		if mapPaths {
			line = mapStepPaths(t, line, root)
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n") + "\n"
}

// hostTool finds every use of a program that changes this machine's units or
// user database, and what follows its name.
var hostTool = regexp.MustCompile(`\b(systemctl|useradd|groupadd|usermod|userdel|groupdel)\b( --root=\S+| --prefix \S+)?`)

// guardHost fails the test, before anything runs, on a rewritten step that
// would change this machine's units or user database.
func guardHost(t *testing.T, line, root string) {
	t.Helper()
	for _, sm := range hostTool.FindAllStringSubmatch(line, -1) {
		want := " --prefix " + root
		if sm[1] == "systemctl" {
			want = " --root=" + root
		}
		if sm[2] != want {
			t.Fatalf("install step %q would act on this machine: teach stepRules about it", line)
		}
	}
}

// absPath finds an absolute path that starts a word, a quoted string or a
// value (after = or :).
var absPath = regexp.MustCompile(`(^|[\s"'=:])(/[^\s"';|)]*)`)

// mapStepPaths moves the absolute paths of a step line below root. Paths
// the steps only read from the system stay; any other one fails the test, so
// that no step can write outside the scratch root.
func mapStepPaths(t *testing.T, line, root string) string {
	t.Helper()
	readOnly := map[string]bool{"/dev/stdin": true, "/dev/urandom": true, "/dev/null": true, "/usr/sbin/nologin": true}
	return absPath.ReplaceAllStringFunc(line, func(m string) string {
		sm := absPath.FindStringSubmatch(m)
		lead, p := sm[1], sm[2]
		switch {
		case strings.HasPrefix(p, "//") || readOnly[p]: // a URL's host, or read only
			return m
		case strings.HasPrefix(p, "/etc/"), strings.HasPrefix(p, "/usr/local/"),
			strings.HasPrefix(p, "/var/"), strings.HasPrefix(p, "/srv/"), strings.HasPrefix(p, "/opt/"):
			return lead + root + p
		}
		t.Fatalf("install step %q uses %s, which this test neither moves into the scratch root nor knows to be read only", line, p)
		return m
	})
}

// unitFile holds a unit's settings by key, each value in order of appearance.
type unitFile struct {
	name string
	text string
	keys map[string][]string
}

func readUnit(t *testing.T, path string) unitFile {
	t.Helper()
	u := unitFile{name: filepath.Base(path), text: testkit.ReadFile(t, path), keys: map[string][]string{}}
	for _, line := range strings.Split(u.text, "\n") {
		key, value, ok := strings.Cut(line, "=")
		if ok && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, ";") {
			u.keys[key] = append(u.keys[key], value)
		}
	}
	return u
}

// one returns the only value of key.
func (u unitFile) one(t *testing.T, key string) string {
	t.Helper()
	if v := u.keys[key]; len(v) == 1 && v[0] != "" {
		return v[0]
	}
	t.Fatalf("%s: want one %s=, have %q", u.name, key, u.keys[key])
	return ""
}

// execStart returns the unit's program and its arguments.
func (u unitFile) execStart(t *testing.T) []string {
	t.Helper()
	f := strings.Fields(strings.TrimLeft(u.one(t, "ExecStart"), "-@:+!"))
	if len(f) < 2 {
		t.Fatalf("%s: ExecStart=%s names no settings file", u.name, u.one(t, "ExecStart"))
	}
	return f
}

// account is the service user and group as the steps created them.
type account struct {
	uid, gid, primaryGID int
	home, shell          string
}

func readAccount(t *testing.T, root, user, group string) account {
	t.Helper()
	pw := dbEntry(t, filepath.Join(root, "etc/passwd"), user)
	gr := dbEntry(t, filepath.Join(root, "etc/group"), group)
	if len(pw) < 7 || len(gr) < 3 {
		t.Fatalf("malformed entries: passwd %q, group %q", pw, gr)
	}
	var a account
	var errs [3]error
	a.uid, errs[0] = strconv.Atoi(pw[2])
	a.primaryGID, errs[1] = strconv.Atoi(pw[3])
	a.gid, errs[2] = strconv.Atoi(gr[2])
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	a.home, a.shell = pw[5], pw[6]
	return a
}

// dbEntry returns the fields of name's line in a passwd or group file.
func dbEntry(t *testing.T, path, name string) []string {
	t.Helper()
	for _, line := range strings.Split(testkit.ReadFile(t, path), "\n") {
		if f := strings.Split(line, ":"); f[0] == name {
			return f
		}
	}
	t.Fatalf("the install steps created no %s in %s", name, path)
	return nil
}

// checkAccount: a system user whose group is the unit's Group= and whose
// home is the state dir.
func checkAccount(t *testing.T, unit unitFile, a account) {
	t.Helper()
	if a.uid == 0 || a.uid >= 1000 {
		t.Errorf("service user uid %d, want a system uid (1-999)", a.uid)
	}
	if a.primaryGID != a.gid {
		t.Errorf("service user's group is %d, want the unit's Group= (%d)", a.primaryGID, a.gid)
	}
	if want := "/var/lib/" + unit.one(t, "StateDirectory"); a.home != want {
		t.Errorf("service user's home %s, want the state dir %s", a.home, want)
	}
	if a.shell != "/usr/sbin/nologin" {
		t.Errorf("service user's shell %s, want /usr/sbin/nologin", a.shell)
	}
}

// checkOwned checks a file's permission bits and owner.
func checkOwned(t *testing.T, path string, perm os.FileMode, uid, gid int) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Error(err)
		return
	}
	st := info.Sys().(*syscall.Stat_t)
	if info.Mode().Perm() != perm || int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("%s: mode %04o owner %d:%d, want %04o %d:%d", path, info.Mode().Perm(), st.Uid, st.Gid, perm, uid, gid)
	}
}

// checkUnitInstalled: the unit is installed as shipped and enabled, its
// programs are in place, and systemd-analyze verify accepts it.
func checkUnitInstalled(t *testing.T, root string, unit unitFile) {
	t.Helper()
	installed := filepath.Join(root, "etc/systemd/system", unit.name)
	if b, err := os.ReadFile(installed); err != nil || string(b) != unit.text {
		t.Errorf("%s is not the shipped unit (err %v)", installed, err)
	}
	checkOwned(t, installed, 0o644, 0, 0)
	for _, target := range unit.keys["WantedBy"] {
		link := filepath.Join(root, "etc/systemd/system", target+".wants", unit.name)
		if dest, err := os.Readlink(link); err != nil || dest != "/etc/systemd/system/"+unit.name {
			t.Errorf("not enabled for %s: %s -> %q (%v)", target, link, dest, err)
		}
	}
	bin := unit.execStart(t)[0]
	for _, prog := range []string{bin, filepath.Join(filepath.Dir(bin), "wh-git-trigger")} {
		checkOwned(t, filepath.Join(root, prog), 0o755, 0, 0)
		if out, err := exec.Command(filepath.Join(root, prog), "--version").CombinedOutput(); err != nil {
			t.Errorf("%s --version: %v\n%s", prog, err, out)
		}
	}
	verifyUnit(t, unit, filepath.Join(root, bin))
}

// verifyUnit writes unit with its ExecStart= program replaced by bin to a
// scratch file, checks that systemd-analyze verify accepts it silently, and
// returns the file's path.
func verifyUnit(t *testing.T, unit unitFile, bin string) string {
	t.Helper()
	text := strings.Replace(unit.text, "ExecStart="+unit.execStart(t)[0], "ExecStart="+bin, 1)
	path := testkit.WriteFile(t, filepath.Join(t.TempDir(), unit.name), text)
	if out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify of %s with ExecStart=%s: %v\n%s", unit.name, bin, err, out)
	}
	return path
}

// checkSettingsInstalled: the settings file the unit names, and every file
// beside it, is root's and hidden from others; the settings load, put the
// state in the unit's StateDirectory= and keep secrets readable by the group.
func checkSettingsInstalled(t *testing.T, root string, unit unitFile, a account) *settings.Settings {
	t.Helper()
	file := filepath.Join(root, unit.execStart(t)[1])
	checkOwned(t, file, 0o640, 0, a.gid)
	checkOwned(t, filepath.Dir(file), 0o750, 0, a.gid)
	entries, err := os.ReadDir(filepath.Dir(file))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm()&0o027 != 0 || info.Sys().(*syscall.Stat_t).Uid != 0 {
			t.Errorf("%s: mode %04o uid %d, want root's and neither group-writable nor open to others",
				e.Name(), info.Mode().Perm(), info.Sys().(*syscall.Stat_t).Uid)
		}
	}
	set, err := settings.Load(file, nil)
	if err != nil {
		t.Fatalf("installed settings: %v", err)
	}
	if want := filepath.Join(root, "/var/lib", unit.one(t, "StateDirectory")); set.StateDir != want {
		t.Errorf("state_dir %s, want the unit's StateDirectory= %s", set.StateDir, want)
	}
	for _, name := range set.RepoNames() {
		if f := set.Repos[name].SecretFile; f != "" {
			checkOwned(t, f, 0o640, 0, a.gid)
		}
	}
	return set
}

// checkWritablePaths: every ReadWritePaths= folder exists and is the service
// user's, and every working copy lies below one of them.
func checkWritablePaths(t *testing.T, root string, unit unitFile, a account, set *settings.Settings) {
	t.Helper()
	var writable []string
	for _, value := range unit.keys["ReadWritePaths"] {
		for _, p := range strings.Fields(value) {
			dir := filepath.Join(root, strings.TrimLeft(p, "-+"))
			writable = append(writable, dir)
			checkOwned(t, dir, 0o750, a.uid, a.gid)
		}
	}
	for _, name := range set.RepoNames() {
		path, below := set.Repos[name].Path, false
		for _, dir := range writable {
			below = below || strings.HasPrefix(path, dir+"/")
		}
		if !below {
			t.Errorf("repos.%s.path %s is below no ReadWritePaths= folder %q", name, path, writable)
		}
	}
}
