package settings

import (
	"crypto/rsa"
	"path/filepath"
	"slices"
	"time"
)

// Public APIs that status.api_url defaults to.
const (
	GitHubAPI = "https://api.github.com"
	GitLabAPI = "https://gitlab.com/api/v4"
)

// Notification types, and the events a notify target may ask for.
var (
	notifyTypes  = []string{"webhook", "slack", "mattermost", "discord", "matrix"}
	notifyEvents = []string{"failure", "recovery", "success", "all"}
)

// Report bounds how statuses and notifications are sent: through the
// outbox in the state dir, by one sender.
type Report struct {
	// GiveUp is how long a status or notification is tried (default 24h).
	GiveUp time.Duration `koanf:"give_up"`
	// Backoff is the first wait after a failed attempt without a
	// Retry-After; it doubles on each attempt, up to an hour (default 1m).
	Backoff time.Duration `koanf:"backoff"`
	// Timeout bounds one request (default 10s).
	Timeout time.Duration `koanf:"timeout"`
	// MaxQueue bounds the messages waiting; past it, non-final statuses
	// and notifications that a newer one replaces are dropped (default 10000).
	MaxQueue int `koanf:"max_queue"`
}

// Status says where an entry's statuses go and with which credentials: a
// token file, or (GitHub) an App's installation.
type Status struct {
	// APIURL is the forge's API (default https://api.github.com or
	// https://gitlab.com/api/v4; required for Gitea, Forgejo, GitHub
	// Enterprise and self-hosted GitLab).
	APIURL string `koanf:"api_url"`
	// TokenFile holds an access token; Load fills Token from it. Never log it.
	TokenFile string `koanf:"token_file"`
	Token     string `koanf:"-"`
	// AppID, InstallationID and PrivateKeyFile name a GitHub App
	// installation whose tokens are minted as needed. Load fills PrivateKey.
	AppID          int64           `koanf:"app_id"`
	InstallationID int64           `koanf:"installation_id"`
	PrivateKeyFile string          `koanf:"private_key_file"`
	PrivateKey     *rsa.PrivateKey `koanf:"-"`
	// Commits posts commit statuses for the jobs of branches (default false).
	Commits bool `koanf:"commits"`
	// Context names the commit status (GitLab: its name); default
	// wh-gitd/{entry}/{branch}.
	Context string `koanf:"context"`
}

// Enabled reports whether the entry posts statuses at all.
func (s *Status) Enabled() bool { return s.Token != "" || s.App() }

// App reports whether the statuses use a GitHub App's installation tokens.
func (s *Status) App() bool { return s.AppID != 0 || s.InstallationID != 0 || s.PrivateKeyFile != "" }

// Notify is one target told about jobs' results.
type Notify struct {
	// Name tells targets apart in job records (default: the type).
	Name string `koanf:"name"`
	// Type is webhook, slack, mattermost, discord or matrix.
	Type string `koanf:"type"`
	// URL receives the message; URLFile, an absolute path, may hold it
	// instead (incoming-webhook URLs are secrets). Never log it.
	URL     string `koanf:"url"`
	URLFile string `koanf:"url_file"`
	// Secret signs a webhook's body (X-Wh-Gitd-Signature-256); Load fills
	// it from SecretFile. Never log it.
	Secret     string `koanf:"secret"`
	SecretFile string `koanf:"secret_file"`
	// On lists failure, recovery, success or all (default failure, recovery).
	On []string `koanf:"on"`
}

// Wants reports whether the target asks for event (failure, recovery or
// success).
func (n *Notify) Wants(event string) bool {
	return slices.Contains(n.On, event) || slices.Contains(n.On, "all") ||
		(event == "recovery" && slices.Contains(n.On, "success"))
}

// NotifyFor returns the targets of entry r: its own and the global ones.
func (s *Settings) NotifyFor(r *Repo) []*Notify {
	if r == nil {
		return s.Notify
	}
	return append(slices.Clip(r.Notify), s.Notify...)
}

var reportDefaults = map[string]any{"give_up": "24h", "backoff": "1m", "timeout": "10s", "max_queue": 10000}

// resolveReportPaths makes the status and notify files absolute.
func (s *Settings) resolveReportPaths() {
	dir := filepath.Dir(s.File)
	for _, n := range s.Notify {
		resolveNotify(dir, n)
	}
	for _, r := range s.Repos {
		if r == nil {
			continue
		}
		r.Status.TokenFile = resolve(dir, r.Status.TokenFile)
		r.Status.PrivateKeyFile = resolve(dir, r.Status.PrivateKeyFile)
		for _, n := range r.Notify {
			resolveNotify(dir, n)
		}
	}
}

func resolveNotify(dir string, n *Notify) {
	if n != nil {
		n.URLFile, n.SecretFile = resolve(dir, n.URLFile), resolve(dir, n.SecretFile)
	}
}

// applyReportDefaults fills api_url, notify names and events.
func (s *Settings) applyReportDefaults() {
	notifyDefaults(s.Notify)
	for _, r := range s.Repos {
		if r == nil {
			continue
		}
		notifyDefaults(r.Notify)
		if r.Status.APIURL != "" || (r.Status.TokenFile == "" && !r.Status.App()) {
			continue
		}
		switch r.Provider {
		case GitHub:
			r.Status.APIURL = GitHubAPI
		case GitLab:
			r.Status.APIURL = GitLabAPI
		}
	}
}

func notifyDefaults(list []*Notify) {
	for _, n := range list {
		if n == nil {
			continue
		}
		if n.Name == "" {
			n.Name = n.Type
		}
		if n.On == nil {
			n.On = []string{"failure", "recovery"}
		}
	}
}
