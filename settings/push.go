package settings

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// fingerprint is an SSH key fingerprint as ssh-keygen -lf and sshd's %f
// print it: SHA256: and 43 characters of unpadded base64.
var fingerprint = regexp.MustCompile(`^SHA256:[A-Za-z0-9+/]{43}$`)

// ValidFingerprint reports whether s is an SSH key fingerprint as
// push_keys lists them (SHA256:..., as ssh-keygen -lf prints it).
func ValidFingerprint(s string) bool { return fingerprint.MatchString(s) }

// checkPushEntry checks a provider: git entry: a bare repository on this
// host, reached by its hook, so no secret, no credentials and no
// environments (a push names a branch).
func checkPushEntry(ps *problems, p string, r *Repo) {
	const why = "not used with provider: git: pushes reach the daemon through the repository's hook, not a webhook"
	if r.Secret != "" && r.SecretFile == "" {
		ps.add(p+".secret", "%s; remove it", why)
	}
	if r.SecretFile != "" {
		ps.add(p+".secret_file", "%s; remove it (got %q)", why, r.SecretFile)
	}
	if r.Remote != "" && (!filepath.IsAbs(r.Remote) || filepath.Clean(r.Remote) != strings.TrimSuffix(r.Remote, "/")) {
		ps.add(p+".remote", "must be the absolute path of the bare repository on this host that people push to, "+
			"such as /srv/git/site.git (got %q)", r.Remote)
	}
	if r.Auth != (Auth{}) {
		ps.add(p+".auth", "not used with provider: git: the repository is on this host")
	}
	if len(r.Environments) > 0 {
		ps.add(p+".environments", "not used with provider: git: a push names a branch; configure branches")
	}
	if strings.IndexFunc(r.Repository, isControl) >= 0 {
		ps.add(p+".repository", "must not hold control characters (got %q)", r.Repository)
	}
	for i, k := range r.PushKeys {
		if !ValidFingerprint(k) {
			ps.add(fmt.Sprintf("%s.push_keys[%d]", p, i), "must be a key fingerprint as ssh-keygen -lf -f KEY.pub prints it, "+
				"SHA256: and 43 characters (got %q)", k)
		}
	}
}
