package settings

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
)

// readReportSecrets fills the status tokens, App keys, notify URLs and
// secrets from their files.
func (s *Settings) readReportSecrets(ps *problems) {
	readNotifySecrets(ps, "notify", s.Notify)
	for _, name := range s.RepoNames() {
		r := s.Repos[name]
		if r == nil {
			continue
		}
		p := "repos." + name
		readNotifySecrets(ps, p+".notify", r.Notify)
		st := &r.Status
		if st.TokenFile != "" {
			st.Token = readSecret(ps, p+".status.token_file", st.TokenFile)
		}
		if st.PrivateKeyFile != "" {
			key, err := readPrivateKey(st.PrivateKeyFile)
			if err != nil {
				ps.add(p+".status.private_key_file", "%s (got %q)", err, st.PrivateKeyFile)
			}
			st.PrivateKey = key
		}
	}
}

// readSecret reads a secret file, reporting one that cannot be read or is
// empty at key.
func readSecret(ps *problems, key, file string) string {
	v, err := readSecretFile(file)
	switch {
	case err != nil:
		ps.add(key, "cannot be read: %s (got %q)", reason(err), file)
	case v == "":
		ps.add(key, "is empty (got %q)", file)
	}
	return v
}

func readNotifySecrets(ps *problems, p string, list []*Notify) {
	for i, n := range list {
		if n == nil {
			continue
		}
		key := fmt.Sprintf("%s[%d]", p, i)
		if n.URLFile != "" {
			if n.URL != "" {
				ps.add(key+".url_file", "set url or url_file, not both")
			} else {
				n.URL = readSecret(ps, key+".url_file", n.URLFile)
			}
		}
		if n.SecretFile != "" {
			if n.Secret != "" {
				ps.add(key+".secret_file", "set secret or secret_file, not both")
			} else {
				n.Secret = readSecret(ps, key+".secret_file", n.SecretFile)
			}
		}
	}
}

// readPrivateKey reads a GitHub App's PEM private key (PKCS #1 as GitHub
// hands it out, or PKCS #8).
func readPrivateKey(file string) (*rsa.PrivateKey, error) {
	b, err := readSecretFile(file)
	if err != nil {
		return nil, fmt.Errorf("cannot be read: %s", reason(err))
	}
	block, _ := pem.Decode([]byte(b))
	if block == nil {
		return nil, errors.New("holds no PEM block: use the .pem file the App's settings page generated")
	}
	if key, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return key, nil
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if rsaKey, ok := key.(*rsa.PrivateKey); ok && err == nil {
		return rsaKey, nil
	}
	return nil, errors.New("holds no RSA private key (PKCS #1 or PKCS #8)")
}

// checkReport validates report, notify and each entry's status and notify.
func (s *Settings) checkReport(ps *problems) {
	positive(ps, "report.give_up", s.Report.GiveUp)
	positive(ps, "report.backoff", s.Report.Backoff)
	positive(ps, "report.timeout", s.Report.Timeout)
	atLeast(ps, "report.max_queue", s.Report.MaxQueue, 1)
	checkNotify(ps, "notify", s.Notify)
	for _, name := range s.RepoNames() {
		r := s.Repos[name]
		if r == nil {
			continue
		}
		p := "repos." + name
		checkNotify(ps, p+".notify", r.Notify)
		checkStatus(ps, p+".status", r)
		for env, t := range r.Environments {
			if t != nil && t.URL != "" {
				if msg := httpURLProblem(t.URL); msg != "" {
					ps.add(p+".environments."+env+".url", "%s (got %q)", msg, t.URL)
				}
			}
		}
		for branch, t := range r.Branches {
			if t != nil && t.URL != "" {
				ps.add(p+".branches."+branch+".url", "only used under environments (got %q)", t.URL)
			}
		}
	}
}

func checkStatus(ps *problems, p string, r *Repo) {
	st := &r.Status
	set := st.TokenFile != "" || st.App() || st.APIURL != "" || st.Commits || st.Context != ""
	switch {
	case !set:
		return
	case r.Provider == Gogs:
		ps.add(p, "Gogs has no commit status API: remove status: (Gitea and Forgejo have one: provider: gitea or forgejo)")
		return
	case r.Provider == Git:
		ps.add(p, "a provider: git entry has no forge to post statuses to: remove status: (notify: tells people)")
		return
	case st.TokenFile != "" && st.App():
		ps.add(p, "set token_file or app_id, installation_id and private_key_file, not both")
	case st.App() && r.Provider != GitHub:
		ps.add(p+".app_id", "GitHub Apps post statuses to GitHub only (provider is %s): use token_file", r.Provider)
	case st.App() && (st.AppID <= 0 || st.InstallationID <= 0 || st.PrivateKeyFile == ""):
		ps.add(p, "a GitHub App needs app_id, installation_id and private_key_file, all three (got app_id %d, installation_id %d, private_key_file %q)",
			st.AppID, st.InstallationID, st.PrivateKeyFile)
	case st.TokenFile == "" && !st.App():
		ps.add(p, "needs token_file, or app_id, installation_id and private_key_file")
	}
	switch {
	case st.APIURL == "" && (r.Provider == Gitea || r.Provider == Forgejo):
		ps.add(p+".api_url", "required for %s, such as https://git.example.com/api/v1", r.Provider)
	case st.APIURL != "":
		if msg := httpURLProblem(st.APIURL); msg != "" {
			ps.add(p+".api_url", "%s (got %q)", msg, st.APIURL)
		}
	}
}

func checkNotify(ps *problems, p string, list []*Notify) {
	names := map[string]bool{}
	for i, n := range list {
		key := fmt.Sprintf("%s[%d]", p, i)
		if n == nil {
			ps.add(key, "must not be empty")
			continue
		}
		oneOf(ps, key+".type", n.Type, notifyTypes)
		if names[n.Name] {
			ps.add(key+".name", "another target of this list has the same name: set name: (got %q)", n.Name)
		}
		names[n.Name] = true
		switch msg := httpURLProblem(n.URL); {
		case n.URL == "" && n.URLFile == "":
			ps.add(key+".url", "required (or url_file)")
		case msg != "" && n.URLFile != "":
			ps.add(key+".url_file", "%s (the file's content is not shown)", msg)
		case msg != "":
			ps.add(key+".url", "%s (got %q)", msg, n.URL)
		}
		if n.Type == "webhook" && n.Secret != "" && len(n.Secret) < minSecret {
			ps.add(key+".secret", "must be at least %d characters; %s (got %d characters)", minSecret, secretHint, len(n.Secret))
		}
		if n.Type != "webhook" && (n.Secret != "" || n.SecretFile != "") {
			ps.add(key+".secret", "only a webhook's body is signed (type is %s)", n.Type)
		}
		for j, ev := range n.On {
			oneOf(ps, fmt.Sprintf("%s.on[%d]", key, j), ev, notifyEvents)
		}
	}
}

// httpURLProblem accepts an absolute http or https URL with a host.
func httpURLProblem(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "must be an absolute http:// or https:// URL"
	}
	return ""
}
