package gitsync

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

// defaultTokenUser is the basic-auth username sent with a token when
// Auth.Username is empty; GitHub documents it, Gitea, Gogs and GitLab
// (personal access tokens) accept any username.
const defaultTokenUser = "x-access-token"

// remote is Target.Remote made safe: a URL without any secret (what is
// stored in .git/config, logged and fetched from), the credentials to use
// with it, and the secrets to scrub from anything shown.
type remote struct {
	url     string
	host    string // host of the URL, "" for local paths
	auth    transport.AuthMethod
	secrets []string
	// proxy bounds SSH connections by the sync's deadline (see deadline.go).
	proxy transport.ProxyOptions
}

func (r *remote) secretList() []string {
	if r == nil {
		return nil
	}
	return r.secrets
}

// newRemote parses t.Remote, moves URL credentials into an auth method, and
// reads the key or token files (on every sync, so rotation needs no restart).
func (s *Syncer) newRemote(ctx context.Context, t Target) (*remote, error) {
	ep, err := transport.NewEndpoint(t.Remote)
	if err != nil {
		r := &remote{secrets: rawUserinfo(t.Remote)}
		return r, fmt.Errorf("parse remote %s: %w", redactURL(t.Remote), err)
	}
	r := &remote{url: t.Remote, host: ep.Host}
	switch ep.Protocol {
	case "http", "https":
		err = r.httpAuth(ep, t.Auth)
	case "ssh":
		err = s.sshAuth(ctx, r, ep, t.Auth)
		r.proxy = sshDeadline(ctx)
	default:
		if ep.Password != "" {
			r.secrets = append(r.secrets, ep.Password)
			ep.Password = ""
			r.url = ep.String()
		}
	}
	return r, err
}

// httpAuth sends a token from TokenFile, or else the URL's userinfo, as
// basic auth; the URL kept has no userinfo (a lone username may be a token).
func (r *remote) httpAuth(ep *transport.Endpoint, a Auth) error {
	var basic *http.BasicAuth
	if ep.User != "" || ep.Password != "" {
		r.secrets = append(r.secrets, ep.Password)
		if ep.Password == "" {
			r.secrets = append(r.secrets, ep.User)
		}
		basic = &http.BasicAuth{Username: ep.User, Password: ep.Password}
		ep.User, ep.Password = "", ""
		r.url = ep.String()
	}
	if a.TokenFile != "" || a.Token != "" {
		token := a.Token
		if a.TokenFile != "" {
			var err error
			if token, err = readToken(a.TokenFile); err != nil {
				return err
			}
		}
		r.secrets = append(r.secrets, token)
		user := a.Username
		if user == "" {
			user = defaultTokenUser
		}
		basic = &http.BasicAuth{Username: user, Password: token}
	}
	if basic != nil {
		r.auth = basic
	}
	return nil
}

func readToken(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("read token file %s: file is empty", file)
	}
	return token, nil
}

// sshAuth loads the private key and pins host keys to KnownHostsFile.
// Without a key file go-git's default is used: the SSH agent, checked
// against ~/.ssh/known_hosts. Nothing ever prompts.
func (s *Syncer) sshAuth(ctx context.Context, r *remote, ep *transport.Endpoint, a Auth) error {
	if ep.Password != "" {
		r.secrets = append(r.secrets, ep.Password)
		ep.Password = ""
		r.url = ep.String()
	}
	if a.SSHKeyFile == "" {
		return nil
	}
	if a.KnownHostsFile == "" {
		return errors.New("ssh key file needs a known_hosts file: host keys are always checked")
	}
	if _, err := os.Stat(a.KnownHostsFile); err != nil {
		return fmt.Errorf("read known_hosts file: %w", err)
	}
	user := ep.User
	if user == "" {
		user = "git"
	}
	keys, err := gitssh.NewPublicKeysFromFile(user, a.SSHKeyFile, "")
	if err != nil {
		return fmt.Errorf("read ssh key %s: %w", a.SSHKeyFile, err)
	}
	db, err := gitssh.NewKnownHostsDb(a.KnownHostsFile)
	if err != nil {
		return fmt.Errorf("read known_hosts file %s: %w", a.KnownHostsFile, err)
	}
	port := ep.Port
	if port == 0 {
		port = 22
	}
	keys.HostKeyCallback = db.HostKeyCallback()
	keys.HostKeyAlgorithms = db.HostKeyAlgorithms(net.JoinHostPort(ep.Host, strconv.Itoa(port)))
	r.auth = &sshKeys{PublicKeys: keys, timeout: s.dialTimeout(ctx)}
	return nil
}

// dialTimeout is what is left of ctx, or the default when it has no deadline.
func (s *Syncer) dialTimeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return s.sshDialTimeout
}

// sshKeys bounds the SSH dial, which go-git does not tie to the context.
type sshKeys struct {
	*gitssh.PublicKeys
	timeout time.Duration
}

// ClientConfig implements go-git's ssh.AuthMethod.
func (k *sshKeys) ClientConfig() (*ssh.ClientConfig, error) {
	c, err := k.PublicKeys.ClientConfig()
	if err != nil {
		return nil, err
	}
	c.Timeout = k.timeout
	return c, nil
}

// redactURL drops the userinfo of a URL-shaped remote for display.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil || u.Scheme == "" {
		if i := strings.Index(raw, "://"); i >= 0 {
			if j := strings.LastIndex(raw[i+3:], "@"); j >= 0 {
				return raw[:i+3] + raw[i+3+j+1:]
			}
		}
		return raw
	}
	if u.Scheme == "ssh" {
		u.User = url.User(u.User.Username())
		return u.String()
	}
	u.User = nil
	return u.String()
}

// rawUserinfo returns the userinfo of a URL that could not be parsed, so
// it can still be scrubbed from the parse error.
func rawUserinfo(raw string) []string {
	i := strings.Index(raw, "://")
	if i < 0 {
		return nil
	}
	rest := raw[i+3:]
	j := strings.LastIndex(rest, "@")
	if j < 0 {
		return nil
	}
	return []string{rest[:j]}
}

// redactSecrets replaces every secret, raw or URL-escaped, in s.
func redactSecrets(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		for _, form := range []string{sec, url.PathEscape(sec), url.QueryEscape(sec)} {
			s = strings.ReplaceAll(s, form, "[redacted]")
		}
	}
	return s
}

// rewordedError shows a cleaner message (secrets removed, a server's
// error page dropped) but still unwraps to the original, so errors.Is
// (context.DeadlineExceeded, transport.ErrAuthenticationRequired) works.
type rewordedError struct {
	msg string
	err error
}

func (e *rewordedError) Error() string { return e.msg }
func (e *rewordedError) Unwrap() error { return e.err }

// maxErrorText caps a transport error's text: go-git appends whole HTTP
// error bodies (HTML pages) to its errors.
const maxErrorText = 300

// tidyTransportError names go-git's transport failures plainly, without
// the server's response body, and keeps any other message to one short line.
func tidyTransportError(err error, withCredentials bool) error {
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired) && withCredentials:
		return &rewordedError{msg: "authentication required (the server rejected the credentials)", err: err}
	case errors.Is(err, transport.ErrAuthenticationRequired):
		return &rewordedError{msg: "authentication required (no credentials are configured)", err: err}
	case errors.Is(err, transport.ErrAuthorizationFailed):
		return &rewordedError{msg: "authorization failed (the credentials lack access)", err: err}
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return &rewordedError{msg: "repository not found (or no access to it)", err: err}
	}
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if len(msg) > maxErrorText {
		msg = msg[:maxErrorText] + "..."
	}
	if msg != err.Error() {
		return &rewordedError{msg: msg, err: err}
	}
	return err
}

// dubiousPattern finds the path in git's refusal of a repository owned by
// another user, which go-git passes on from git-upload-pack.
var dubiousPattern = regexp.MustCompile(`detected dubious ownership in repository at '([^']*)'`)

// dubiousOwnership words git's refusal of a local repository owned by
// another user, with the command that lifts it; nil for any other error.
func dubiousOwnership(err error) error {
	m := dubiousPattern.FindStringSubmatch(err.Error())
	if m == nil {
		return nil
	}
	return &rewordedError{err: err, msg: "git-upload-pack refused it: " + m[0] + "\n" +
		"hint: the repository at " + m[1] + " is owned by another user; run: " +
		"git config --system --add safe.directory " + m[1]}
}

func scrub(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := redactSecrets(msg, secrets); clean != msg {
		return &rewordedError{msg: clean, err: err}
	}
	return err
}
