package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wh-gitd/wh-gitd/cmd/internal/cli"
	"github.com/wh-gitd/wh-gitd/settings"
)

// hookMarker is the line that says a post-receive hook is one that
// --install-hook wrote, which it may replace.
const hookMarker = "# Written by wh-git-trigger --install-hook: deploys what is pushed."

// hookScript is the post-receive hook calling this wh-git-trigger with
// the settings file, both by absolute path.
func hookScript(bin, file string) []byte {
	return []byte("#!/bin/sh\n" + hookMarker + "\n" +
		"exec " + shellQuote(bin) + " " + shellQuote(file) + " --post-receive\n")
}

// installHook makes entry name's repository ready to be pushed to: the bare
// repository (created when missing), its post-receive hook and push
// options. It is idempotent; a hook it did not write is replaced only with
// force.
func (inv invocation) installHook(name string, force bool) error {
	r, ok := inv.set.Repo(name)
	switch {
	case !ok:
		return cli.Usagef("configured entries: "+strings.Join(inv.set.RepoNames(), ", "), "no repository entry %q", name)
	case r.Provider != settings.Git:
		return cli.Usagef("set provider: git on an entry whose remote is a repository on this host",
			"entry %q has provider %s: --install-hook is for provider: git entries", name, r.Provider)
	}
	created, err := ensureBare(r.Remote, initialBranch(r))
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(inv.stdout, "created the bare repository %s (initial branch %s)\n", r.Remote, initialBranch(r))
	}
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this program's path: %w", err)
	}
	if err := inv.writeHook(filepath.Join(r.Remote, "hooks", "post-receive"), hookScript(bin, inv.set.File), force); err != nil {
		return err
	}
	if _, err := git(r.Remote, "config", "receive.advertisePushOptions", "true"); err != nil {
		return err
	}
	inv.printRemotes(r)
	return nil
}

// initialBranch is the branch a new repository starts on: the entry's only
// branch, else main or master when configured, else the first by name.
func initialBranch(r *settings.Repo) string {
	names := slices.Sorted(maps.Keys(r.Branches))
	for _, b := range []string{"main", "master"} {
		if len(names) > 1 && slices.Contains(names, b) {
			return b
		}
	}
	if len(names) == 0 {
		return "main"
	}
	return names[0]
}

// ensureBare creates a bare repository at dir when nothing is there, and
// checks that what is there is one.
func ensureBare(dir, branch string) (created bool, err error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if _, err := git("", "init", "--quiet", "--bare", "--initial-branch="+branch, dir); err != nil {
			return false, err
		}
		return true, nil
	}
	out, err := git(dir, "rev-parse", "--is-bare-repository")
	if err != nil || strings.TrimSpace(out) != "true" {
		return false, &cli.UsageError{Err: fmt.Errorf("%s is not a bare git repository", dir),
			Hint: "point remote: at a bare repository (git init --bare), or at a path where none exists yet"}
	}
	return false, nil
}

// writeHook writes the hook at path unless the same one is there; a hook
// of someone else's is replaced only with force.
func (inv invocation) writeHook(path string, script []byte, force bool) error {
	old, err := os.ReadFile(path)
	switch {
	case err == nil && bytes.Equal(old, script):
		fmt.Fprintf(inv.stdout, "the hook %s is already in place\n", path)
		return nil
	case err == nil && !bytes.Contains(old, []byte(hookMarker)) && !force:
		return &cli.Failure{Err: fmt.Errorf("%s is another program's hook: not replacing it", path),
			Hint: "look at it first; --force replaces it"}
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("read hook: %w", err)
	}
	tmp := path + ".wh-gitd-new"
	if err := os.WriteFile(tmp, script, 0o755); err != nil {
		return fmt.Errorf("write hook: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write hook: %w", err)
	}
	verb := map[bool]string{true: "replaced", false: "installed"}[err == nil]
	fmt.Fprintf(inv.stdout, "%s the hook %s\n", verb, path)
	return nil
}

// printRemotes prints the git remote add lines that push to entry r.
func (inv invocation) printRemotes(r *settings.Repo) {
	host, _ := os.Hostname()
	who := "deploy"
	if u, err := user.Current(); err == nil && u.Uid != "0" {
		who = u.Username
	}
	fmt.Fprintf(inv.stdout, "push to it from a clone with:\n")
	fmt.Fprintf(inv.stdout, "  git remote add deploy %s@%s:%s   # over SSH, with wh-git-trigger --git-shell as the key's command\n",
		who, host, r.Name)
	fmt.Fprintf(inv.stdout, "  git remote add deploy %s   # on this host\n", shellQuote(r.Remote))
	fmt.Fprintf(inv.stdout, "  git push deploy %s\n", initialBranch(r))
}

// git runs the git CLI in dir ("" for here) without any GIT_* variable of
// this process, and returns its output.
func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}
