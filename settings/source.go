package settings

import (
	"net/url"
	"slices"
	"strings"
)

// minSecret is the shortest webhook secret or API token accepted.
const minSecret = 16

// secretHint ends every message about a secret that is too short.
const secretHint = "make one with openssl rand -hex 32"

// checkSource checks where the working copy comes from and where it lives.
func checkSource(ps *problems, p string, r *Repo) {
	oneOf(ps, p+".provider", r.Provider, providers)
	if msg := repositoryProblem(r.Provider, r.Repository); msg != "" && r.Provider != Git {
		ps.add(p+".repository", "%s (got %q)", msg, r.Repository)
	}
	if r.Remote == "" {
		ps.add(p+".remote", "required")
	}
	switch {
	case r.Path == "" && needsEntryPath(r):
		ps.add(p+".path", "required, unless every branch and environment sets its own path")
	case r.Path == "":
	default:
		if msg := pathProblem(r.Path); msg != "" {
			ps.add(p+".path", "%s (got %q)", msg, r.Path)
		}
	}
}

func repositoryProblem(provider, repo string) string {
	if repo == "" {
		return "required, as owner/name"
	}
	if name, ok := fromCloneURL(provider, repo); ok {
		return "must be the forge's owner/name, not a clone URL: write it as " + name
	}
	if strings.HasPrefix(repo, "/") || strings.HasSuffix(repo, "/") {
		return "must not start or end with /"
	}
	segs := strings.Split(repo, "/")
	for _, seg := range segs {
		switch {
		case seg == "":
			return "must not hold an empty segment"
		case seg == "." || seg == "..":
			return "must not hold a . or .. segment"
		case strings.IndexFunc(seg, isSpaceOrControl) >= 0:
			return "must not hold spaces or control characters"
		}
	}
	if provider == GitLab && len(segs) < 2 {
		return "must be group/name or group/subgroup/name"
	}
	if provider != GitLab && len(segs) != 2 {
		return "must be owner/name"
	}
	return ""
}

// fromCloneURL returns the owner/name that repo stands for when it is written
// as a clone URL (https://host/acme/site, git@host:acme/site.git,
// host/acme/site) or with a trailing .git, which no forge allows in a name.
func fromCloneURL(provider, repo string) (string, bool) {
	rest := repo
	first, afterFirst, _ := strings.Cut(repo, "/")
	switch _, after, isURL := strings.Cut(repo, "://"); {
	case isURL:
		_, rest, _ = strings.Cut(after, "/") // drop the host
	case remoteKind(repo) == "ssh":
		_, rest, _ = strings.Cut(repo, ":") // scp-style
	case provider != GitLab && strings.Contains(first, ".") && strings.Count(repo, "/") >= 2:
		rest = afterFirst // a host, then owner/name
	case !strings.HasSuffix(repo, ".git"):
		return "", false
	}
	segs := strings.Split(strings.TrimSuffix(strings.Trim(rest, "/"), ".git"), "/")
	if provider != GitLab && len(segs) > 2 && rest != repo {
		segs = segs[:2] // https://host/acme/site/tree/main
	}
	name := strings.Join(segs, "/")
	if len(segs) < 2 || slices.Contains(segs, "") || name == repo {
		return "", false
	}
	return name, true
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

func checkSecret(ps *problems, p string, r *Repo) {
	switch {
	case r.Secret != "" && len(r.Secret) >= minSecret:
	case r.Secret != "" && r.SecretFile != "":
		ps.add(p+".secret_file", "must hold a secret of at least %d characters; %s (got %d characters in %q)",
			minSecret, secretHint, len(r.Secret), r.SecretFile)
	case r.Secret != "":
		ps.add(p+".secret", "must be at least %d characters; %s (got %d characters)", minSecret, secretHint, len(r.Secret))
	case r.SecretFile == "":
		ps.add(p+".secret", "required: set secret or secret_file (an empty secret turns signature checks off)")
	default:
		if _, err := readSecretFile(r.SecretFile); err != nil {
			ps.add(p+".secret_file", "cannot be read: %s (got %q)", reason(err), r.SecretFile)
			return
		}
		ps.add(p+".secret_file", "is empty (got %q)", r.SecretFile)
	}
}

func checkAuth(ps *problems, p string, r *Repo) {
	a, p := r.Auth, p+".auth"
	switch {
	case a.SSHKeyFile != "" && a.KnownHostsFile == "":
		ps.add(p+".known_hosts_file", "required with ssh_key_file (host keys are always checked)")
	case a.SSHKeyFile == "" && a.KnownHostsFile != "":
		ps.add(p+".ssh_key_file", "required with known_hosts_file")
	}
	if a.TokenFile != "" && (a.SSHKeyFile != "" || a.KnownHostsFile != "") {
		ps.add(p+".token_file", "cannot be combined with ssh_key_file or known_hosts_file")
	}
	if a.Username != "" && a.TokenFile == "" {
		ps.add(p+".username", "only used with token_file (got %q)", a.Username)
	}
	for _, f := range []struct{ key, path string }{
		{"ssh_key_file", a.SSHKeyFile}, {"known_hosts_file", a.KnownHostsFile}, {"token_file", a.TokenFile},
	} {
		if f.path == "" {
			continue
		}
		if err := readable(f.path); err != nil {
			ps.add(p+"."+f.key, "cannot be read: %s (got %q)", reason(err), f.path)
		}
	}
	checkAuthKind(ps, p, r)
	checkFromStatus(ps, p, r)
}

// checkFromStatus checks auth.from_status: the entry's status credentials
// alone, over https.
func checkFromStatus(ps *problems, p string, r *Repo) {
	a := r.Auth
	switch {
	case !a.FromStatus:
	case a.TokenFile != "" || a.SSHKeyFile != "" || a.KnownHostsFile != "" || a.Username != "":
		ps.add(p+".from_status", "cannot be combined with token_file, username or ssh keys")
	case r.Status.TokenFile == "" && !r.Status.App():
		ps.add(p+".from_status", "needs status.token_file or a GitHub App under status:")
	case remoteKind(r.Remote) != "http":
		ps.add(p+".from_status", "needs an http(s) remote (got remote %s)", redact(r.Remote))
	}
}

// checkAuthKind checks that the credentials suit the kind of remote.
func checkAuthKind(ps *problems, p string, r *Repo) {
	a, kind := r.Auth, remoteKind(r.Remote)
	if kind == "ssh" && a.SSHKeyFile == "" && a.KnownHostsFile == "" {
		ps.add(p, "an SSH remote needs auth.ssh_key_file and auth.known_hosts_file (without them go-git asks "+
			"an SSH agent, which the service does not have) (got remote %s)", redact(r.Remote))
	}
	if a.SSHKeyFile != "" && kind == "http" {
		ps.add(p+".ssh_key_file", "needs an ssh remote (got remote %s)", redact(r.Remote))
	}
	if a.TokenFile != "" && kind == "ssh" {
		ps.add(p+".token_file", "needs an http(s) remote (got remote %s)", redact(r.Remote))
	}
}

// remoteKind classifies a remote as git does: http, ssh (ssh:// or scp-like
// [user@]host:path), local, or other (git://, ...).
func remoteKind(remote string) string {
	if scheme, _, ok := strings.Cut(remote, "://"); ok {
		switch strings.ToLower(scheme) {
		case "http", "https":
			return "http"
		case "ssh", "git+ssh", "ssh+git":
			return "ssh"
		case "file":
			return "local"
		}
		return "other"
	}
	if i := strings.IndexByte(remote, ':'); i > 0 && !strings.Contains(remote[:i], "/") {
		return "ssh"
	}
	return "local"
}

// redact hides the password of a remote URL.
func redact(remote string) string {
	if u, err := url.Parse(remote); err == nil && u.User != nil {
		return u.Redacted()
	}
	return remote
}
