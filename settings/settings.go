// Package settings owns settings.yaml: it reads the file with koanf (YAML, then
// WH_GITD_* environment overrides), applies defaults, resolves relative paths
// against the folder of the file, reads secret files, and validates every field
// at once. It holds plain typed data; it never sets up logging and never writes.
package settings

import (
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
)

// EnvPrefix starts every environment variable that overrides a setting:
// WH_GITD_LOG__LEVEL=debug sets log.level, and
// WH_GITD_REPOS__MY_SITE__SECRET sets repos.my-site.secret.
const EnvPrefix = "WH_GITD_"

// Providers a repository entry may name. Gitea and Forgejo deliver webhooks
// in the Gogs dialect (see Repo.Dialect).
const (
	GitHub  = "github"
	GitLab  = "gitlab"
	Gogs    = "gogs"
	Gitea   = "gitea"
	Forgejo = "forgejo"
	// Git is a bare repository on this host that people push to: its
	// post-receive hook starts the jobs (wh-git-trigger --post-receive), so
	// it has no webhook endpoint and no secret.
	Git = "git"
)

// Settings is the whole, validated content of a settings file.
type Settings struct {
	// Listen is the TCP address of the HTTP listener (default 127.0.0.1:9000).
	Listen string `koanf:"listen"`
	// Workers is how many jobs may run at once across all repositories.
	Workers int `koanf:"workers"`
	// QueueSize bounds the jobs waiting to run; past it deliveries get 503.
	QueueSize int `koanf:"queue_size"`
	// MaxAttempts bounds how often a job starts when the daemon's death or
	// shutdown interrupts it (default 3): one interrupted in each attempt
	// ends failed instead of starting again.
	MaxAttempts int `koanf:"max_attempts"`
	// StateDir holds locks, job logs and payload files (required).
	StateDir string `koanf:"state_dir"`
	// MaxBodyBytes caps a webhook body (default 25 MiB, GitHub's maximum).
	MaxBodyBytes int64 `koanf:"max_body_bytes"`
	// ShutdownGrace is how long running jobs may go on after SIGTERM.
	ShutdownGrace time.Duration `koanf:"shutdown_grace"`
	// KillGrace is the time between SIGTERM and SIGKILL of a command's group.
	KillGrace time.Duration `koanf:"kill_grace"`
	// Log configures the daemon's own log stream.
	Log Log `koanf:"log"`
	// API configures the local job API; without a token it is off.
	API API `koanf:"api"`
	// UI configures the status page, which is on when API.Token is set.
	UI UI `koanf:"ui"`
	// Metrics guards GET /metrics; without a token or allow list it is off.
	Metrics Metrics `koanf:"metrics"`
	// HTTP holds the listener's timeouts.
	HTTP HTTP `koanf:"http"`
	// TLS, when both of its files are set, makes the listener serve HTTPS.
	TLS TLS `koanf:"tls"`
	// Allow lists the networks that may deliver webhooks (empty: any); a
	// repository entry's own allow list replaces it for that entry.
	Allow []CIDR `koanf:"allow"`
	// TrustedProxies lists the reverse proxies whose X-Forwarded-For is
	// believed (the rightmost address not in this list is the client).
	TrustedProxies []CIDR `koanf:"trusted_proxies"`
	// PublicURL is the address people reach this daemon at, such as
	// https://deploy.example.com; links handed out (a job's page,
	// {public_url}/jobs/{id}) start with it. Empty: no links are handed out.
	PublicURL string `koanf:"public_url"`
	// Report bounds how statuses and notifications are sent.
	Report Report `koanf:"report"`
	// Notify lists the targets told about every entry's job results.
	Notify []*Notify `koanf:"notify"`
	// Repos maps an entry name (the {name} of /hooks/{name}) to its entry.
	Repos map[string]*Repo `koanf:"repos"`

	// File is the absolute path the settings were read from.
	File string `koanf:"-"`
}

// Repo returns the repository entry called name, and whether there is one.
func (s *Settings) Repo(name string) (*Repo, bool) {
	r, ok := s.Repos[name]
	return r, ok && r != nil
}

// RepoNames returns the names of the repository entries, sorted.
func (s *Settings) RepoNames() []string {
	names := make([]string, 0, len(s.Repos))
	for name := range s.Repos {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// JobURL is the address of a job's page, {public_url}/jobs/{id}, or ""
// when public_url is not set.
func (s *Settings) JobURL(id string) string {
	if s.PublicURL == "" || id == "" {
		return ""
	}
	return strings.TrimSuffix(s.PublicURL, "/") + "/jobs/" + url.PathEscape(id)
}

// API guards the local job API (/api/...) with a bearer token.
type API struct {
	// Token is the bearer token; Load fills it from TokenFile. Never log it.
	Token string `koanf:"token"`
	// TokenFile is an absolute path to a file holding the token.
	TokenFile string `koanf:"token_file"`
}

// History bounds the job records and logs kept for one repository entry.
type History struct {
	// Keep is how many finished jobs are kept (default 100).
	Keep int `koanf:"keep"`
	// MaxAge is how long a finished job is kept (default 720h, 30 days).
	MaxAge time.Duration `koanf:"max_age"`
}

// Log configures zerolog.
type Log struct {
	// Level is trace, debug, info, warn or error (default info).
	Level string `koanf:"level"`
	// Format is json (default) or console.
	Format string `koanf:"format"`
}

// Repo is one repository entry: one webhook endpoint and one working copy.
type Repo struct {
	// Name is the entry's key in repos (set by Load).
	Name string `koanf:"-"`
	// Provider is github, gitlab, gogs, gitea, forgejo, or git for a bare
	// repository on this host that people push to.
	Provider string `koanf:"provider"`
	// Repository is the forge's owner/name, checked against every delivery;
	// for provider git, an optional display name.
	Repository string `koanf:"repository"`
	// Remote is the URL (or path) the working copy is fetched from; for
	// provider git, the absolute path of the bare repository pushed to.
	Remote string `koanf:"remote"`
	// Path is the absolute path of the working copy of every target that
	// sets no path of its own; empty only when every target sets one.
	Path string `koanf:"path"`
	// Secret is the webhook secret (GitHub/Gogs HMAC key, GitLab token), at
	// least 16 characters. Load fills it from SecretFile when that is set.
	// Never log it.
	Secret string `koanf:"secret"`
	// SecretFile is an absolute path to a file holding the secret.
	SecretFile string `koanf:"secret_file"`
	// Auth is how the remote is reached; zero means no credentials.
	Auth Auth `koanf:"auth"`
	// Allow, when not empty, replaces the global allow list for this entry.
	Allow []CIDR `koanf:"allow"`
	// Depth is the fetch depth (default 1; 0 keeps full history).
	Depth int `koanf:"depth"`
	// Clean removes untracked and ignored files on every sync (default false).
	Clean bool `koanf:"clean"`
	// Submodules updates submodules after every sync (default false).
	Submodules bool `koanf:"submodules"`
	// GitTimeout bounds one sync (clone or fetch and checkout; default 5m).
	GitTimeout time.Duration `koanf:"git_timeout"`
	// History bounds the job records and logs kept for this entry.
	History History `koanf:"history"`
	// Poll, when set, checks every branch's head at that interval and
	// deploys it when it moved past the last deployed commit: a safety net
	// for deliveries that never arrived (default 0: off).
	Poll time.Duration `koanf:"poll"`
	// MaxDeliveryAge, when set on a GitHub entry, refuses a push or
	// deployment whose signed time (repository.pushed_at, deployment's
	// created_at) is older than this, so that a captured delivery sent
	// again with a new delivery id stops working (default 0: off).
	MaxDeliveryAge time.Duration `koanf:"max_delivery_age"`
	// SharedPath allows targets of this entry that deploy different
	// branches to share one working copy (default false: refused).
	SharedPath bool `koanf:"shared_path"`
	// AlwaysRun runs a push job's commands even when the branch's tip is
	// already deployed and its last run succeeded (default false: skipped).
	AlwaysRun bool `koanf:"always_run"`
	// DeployOn lists the GitLab deployment statuses that start a job
	// (default [success]).
	DeployOn []string `koanf:"deploy_on"`
	// Branches maps a branch name to what a push to it runs.
	Branches map[string]*Target `koanf:"branches"`
	// Environments maps a deployment environment to what a deployment runs.
	Environments map[string]*Target `koanf:"environments"`
	// Status, when it has credentials, posts deployment statuses (GitHub)
	// and, with commits: true, commit statuses back to the forge.
	Status Status `koanf:"status"`
	// Notify lists this entry's own targets told about job results.
	Notify []*Notify `koanf:"notify"`
	// PushKeys, for provider git, lists the SSH key fingerprints
	// (SHA256:..., as ssh-keygen -lf prints them) that wh-git-trigger
	// --git-shell lets reach this entry; empty lets every key of its
	// forced command.
	PushKeys []string `koanf:"push_keys"`
}

// Auth holds credentials for the remote. Files are absolute paths.
type Auth struct {
	// SSHKeyFile is a private key for an ssh:// or scp-style remote.
	SSHKeyFile string `koanf:"ssh_key_file"`
	// KnownHostsFile is required with SSHKeyFile; host keys are always checked.
	KnownHostsFile string `koanf:"known_hosts_file"`
	// TokenFile holds an HTTPS access token.
	TokenFile string `koanf:"token_file"`
	// Username goes with the token (default x-access-token for github,
	// gogs, gitea and forgejo, oauth2 for gitlab).
	Username string `koanf:"username"`
	// FromStatus fetches an https remote with the entry's status
	// credentials: its token_file, or its GitHub App's installation
	// tokens, sent as x-access-token (default false).
	FromStatus bool `koanf:"from_status"`
}

// Target is what one branch or one environment runs.
type Target struct {
	// Branch is, for an environment, the branch fetched when a deployment's
	// ref gives nothing fetchable; it never changes which commit runs.
	// Unused for branches.
	Branch string `koanf:"branch"`
	// Refs, for an environment, lists the refs a deployment may name, as
	// path.Match patterns (main, v*, release/*); empty allows any.
	Refs []string `koanf:"refs"`
	// Path is this target's own working copy (absolute after Load); empty
	// means the entry's path.
	Path string `koanf:"path"`
	// Commands run in order; the first failure stops the job.
	Commands []Command `koanf:"commands"`
	// OnFailure runs after the commands when the job failed or timed out
	// (a command, or the sync), with WH_RESULT and WH_FAILED_COMMAND set;
	// its own failure is recorded and changes nothing about the job's result.
	OnFailure []Command `koanf:"on_failure"`
	// Always runs last, after every job that reached its commands or failed
	// to sync, whatever the result (not for a skipped job, nor for one the
	// daemon's shutdown interrupted, which runs again); a cancel of the job
	// does not stop it.
	Always []Command `koanf:"always"`
	// Workdir is the commands' folder, relative to the working copy (default ".").
	Workdir string `koanf:"workdir"`
	// Env is added to the commands' environment.
	Env map[string]string `koanf:"env"`
	// Timeout bounds each command (default 10m).
	Timeout time.Duration `koanf:"timeout"`
	// URL is, for an environment, the address of the deployed site,
	// posted as the deployment status's environment_url.
	URL string `koanf:"url"`
}

// Command is one configured command: a string for /bin/sh -c, or an argv list
// run directly.
type Command struct {
	Shell string
	Argv  []string
}

// String renders the command for logs.
func (c Command) String() string {
	if c.Shell != "" {
		return c.Shell
	}
	return strings.Join(c.Argv, " ")
}

// Dialect is the webhook format the entry's forge sends: GitHub, GitLab, or
// Gogs for gogs, gitea and forgejo, which send Gogs's headers and payloads.
func (r *Repo) Dialect() string {
	switch r.Provider {
	case Gitea, Forgejo:
		return Gogs
	}
	return r.Provider
}

// Target returns the configured target of a branch, or of an environment
// when environment is set: the one mapping of a job onto its settings.
func (r *Repo) Target(branch, environment string) (*Target, bool) {
	targets, name := r.Branches, branch
	if environment != "" {
		targets, name = r.Environments, environment
	}
	t, ok := targets[name]
	return t, ok && t != nil
}

// WorkingCopy is the folder target t of r deploys into.
func (r *Repo) WorkingCopy(t *Target) string {
	if t != nil && t.Path != "" {
		return t.Path
	}
	return r.Path
}

// AllowsRef reports whether a deployment naming ref (a branch, a tag or a
// commit, as the deployment gave it) may reach environment t.
func (t *Target) AllowsRef(ref string) bool {
	if len(t.Refs) == 0 {
		return true
	}
	for _, p := range t.Refs {
		if ok, _ := path.Match(p, ref); ok {
			return true
		}
	}
	return false
}
