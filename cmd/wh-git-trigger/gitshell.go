package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"

	"github.com/wh-gitd/wh-gitd/cmd/internal/cli"
	"github.com/wh-gitd/wh-gitd/settings"
)

// gitRequest is what --git-shell accepts from SSH_ORIGINAL_COMMAND: one of
// git's two transfer programs and the repository the client named.
type gitRequest struct {
	service string // receive-pack (a push) or upload-pack (a fetch)
	path    string // the repository, unquoted
}

// errRefused is every request --git-shell turns down: one line on stderr,
// exit 1.
var errRefused = errors.New("refused")

// parseGitCommand parses the command an SSH client asked for, as git
// sends it: git-receive-pack '<path>' or git-upload-pack '<path>' (or
// "git receive-pack ..."), the path quoted as git quotes it ('...' with '
// and ! written as '\” and '\!'), or bare when it holds only letters,
// digits and ._/+@- . Anything else, and paths with .. or characters
// outside that set, is refused.
func parseGitCommand(cmd string) (gitRequest, error) {
	var req gitRequest
	for _, prefix := range []string{"git-receive-pack ", "git receive-pack ", "git-upload-pack ", "git upload-pack "} {
		if rest, ok := strings.CutPrefix(cmd, prefix); ok {
			req.service, cmd = strings.TrimSpace(prefix[4:]), rest
			break
		}
	}
	if req.service == "" {
		return req, fmt.Errorf("%w: this key may only push or fetch with git (git-receive-pack or git-upload-pack)", errRefused)
	}
	path, err := gitUnquote(cmd)
	if err != nil {
		return req, fmt.Errorf("%w: %v", errRefused, err)
	}
	switch {
	case path == "" || strings.Trim(path, "/") == "":
		return req, fmt.Errorf("%w: no repository named", errRefused)
	case strings.Trim(path, safePathChars) != "":
		return req, fmt.Errorf("%w: the repository's name holds characters other than letters, digits and ._/+@-", errRefused)
	case slices.Contains(strings.Split(path, "/"), ".."), strings.HasPrefix(path, "-"):
		return req, fmt.Errorf("%w: the repository's name holds .. or starts with -", errRefused)
	}
	req.path = path
	return req, nil
}

const safePathChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/+@-"

// gitUnquote undoes git's quoting of one argument (sq_quote): '...'
// pieces, joined by \' or \! between them. A bare argument of safe
// characters stands for itself.
func gitUnquote(s string) (string, error) {
	if !strings.HasPrefix(s, "'") {
		if s == "" || strings.Trim(s, safePathChars) != "" {
			return "", errors.New("the repository must be one quoted argument, as git sends it")
		}
		return s, nil
	}
	var b strings.Builder
	rest := s[1:]
	for {
		piece, after, ok := strings.Cut(rest, "'")
		if !ok {
			return "", errors.New("unterminated quote")
		}
		b.WriteString(piece)
		switch {
		case after == "":
			return b.String(), nil
		case len(after) >= 3 && after[0] == '\\' && (after[1] == '\'' || after[1] == '!') && after[2] == '\'':
			b.WriteByte(after[1])
			rest = after[3:]
		default:
			return "", errors.New("more than one argument")
		}
	}
}

// gitShellEntry returns the provider: git entry that path names: by the
// entry's name or by its remote, either with or without .git, and with a
// leading / (an ssh:// URL's path) before a name.
func gitShellEntry(set *settings.Settings, path string) (*settings.Repo, bool) {
	name := strings.TrimSuffix(strings.TrimPrefix(path, "/"), ".git")
	for _, n := range set.RepoNames() {
		r, _ := set.Repo(n)
		if r == nil || r.Provider != settings.Git {
			continue
		}
		remote := strings.TrimSuffix(r.Remote, ".git")
		if name == n || strings.TrimSuffix(path, ".git") == remote {
			return r, true
		}
	}
	return nil, false
}

// mayUse reports whether the key with fingerprint fp may reach entry r:
// any key when r lists no push_keys.
func mayUse(r *settings.Repo, fp string) bool {
	return len(r.PushKeys) == 0 || (fp != "" && slices.Contains(r.PushKeys, fp))
}

// gitShell serves an SSH forced command: it checks SSH_ORIGINAL_COMMAND and
// replaces this process with git's own receive-pack or upload-pack on the
// entry's repository, with fp passed on to the post-receive hook.
func (inv invocation) gitShell(fp string) error {
	if fp != "" && !settings.ValidFingerprint(fp) {
		return cli.Usagef("put %f in the authorized_keys line's command, or the output of ssh-keygen -lf KEY.pub",
			"--git-shell: %q is not a key fingerprint (SHA256:...)", fp)
	}
	req, err := parseGitCommand(os.Getenv("SSH_ORIGINAL_COMMAND"))
	if err != nil {
		return err
	}
	r, ok := gitShellEntry(inv.set, req.path)
	if !ok {
		return fmt.Errorf("%w: no repository %q here", errRefused, req.path)
	}
	if !mayUse(r, fp) {
		return fmt.Errorf("%w: this key may not use %q", errRefused, req.path)
	}
	git, err := exec.LookPath("git")
	if err != nil {
		return fmt.Errorf("find git: %w", err)
	}
	env := []string{}
	for _, kv := range os.Environ() {
		// GIT_PROTOCOL (protocol v2) passes, when sshd's AcceptEnv lets it in.
		if (!strings.HasPrefix(kv, "GIT_") || strings.HasPrefix(kv, "GIT_PROTOCOL=")) && !strings.HasPrefix(kv, pushKeyVar+"=") {
			env = append(env, kv)
		}
	}
	if fp != "" {
		env = append(env, pushKeyVar+"="+fp)
	}
	return syscall.Exec(git, []string{"git", req.service, r.Remote}, env)
}
