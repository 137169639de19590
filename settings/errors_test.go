package settings_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/settings"
)

// replace swaps old for new in base, failing loudly when old is missing.
func replace(t *testing.T, old, new string) string {
	t.Helper()
	if !strings.Contains(base, old) {
		t.Fatalf("base does not hold %q", old)
	}
	return strings.Replace(base, old, new, 1)
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml func(t *testing.T) string
		want []string
	}{
		{"unknown key", func(t *testing.T) string { return base + "    branchs: {}\n" },
			[]string{"repos.site.branchs: unknown key"}},
		{"unknown top-level key", func(t *testing.T) string { return "listn: :80\n" + base },
			[]string{"listn: unknown key"}},
		{"key in another case", func(t *testing.T) string { return "Workers: 3\n" + base },
			[]string{"Workers: unknown key"}},
		{"unknown key in a target", func(t *testing.T) string { return base + "        timout: 1m\n" },
			[]string{"repos.site.branches.main.timout: unknown key"}},
		{"bad duration", func(t *testing.T) string { return base + "    git_timeout: 5 minutes\n" },
			[]string{`repos.site.git_timeout: must be a duration such as 30s, 5m or 1h30m (got "5 minutes")`}},
		{"duration without unit", func(t *testing.T) string { return "kill_grace: 30\n" + base },
			[]string{"kill_grace: must be a duration with a unit"}},
		{"negative timeout", func(t *testing.T) string { return base + "        timeout: -1s\n" },
			[]string{"repos.site.branches.main.timeout: must be positive (got -1s)"}},
		{"zero duration is not a default", func(t *testing.T) string { return "shutdown_grace: 0s\n" + base },
			[]string{"shutdown_grace: must be positive (got 0s)"}},
		{"wrong type", func(t *testing.T) string { return "workers: many\n" + base },
			[]string{`workers: must be a number (got "many")`}},
		{"yes is not a bool", func(t *testing.T) string { return base + "    clean: yes\n" },
			[]string{`repos.site.clean: must be true or false (got "yes")`}},
		{"list for a mapping", func(t *testing.T) string { return "log: [debug]\n" + base },
			[]string{"log: must be a mapping (got a list)"}},
		{"mapping for a list", func(t *testing.T) string { return replace(t, "[make deploy]", "{a: b}") },
			[]string{"repos.site.branches.main.commands: must be a list (got a mapping)"}},
		{"short secret", func(t *testing.T) string { return replace(t, "secret: "+secret, "secret: 0123456789abcde") },
			[]string{"repos.site.secret: must be at least 16 characters; make one with openssl rand -hex 32 (got 15 characters)"}},
		{"short api token", func(t *testing.T) string { return "api: {token: '0123456789'}\n" + base },
			[]string{"api.token: must be at least 16 characters; make one with openssl rand -hex 32 (got 10 characters)"}},
		{"short metrics token", func(t *testing.T) string { return "metrics: {token: '0123456789'}\n" + base },
			[]string{"metrics.token: must be at least 16 characters; make one with openssl rand -hex 32 (got 10 characters)"}},
		{"metrics allow item", func(t *testing.T) string { return "metrics: {allow: [10.1.2.3/8]}\n" + base },
			[]string{"metrics.allow[0]: has address bits set past the prefix length: did you mean 10.0.0.0/8?"}},
		{"missing secret", func(t *testing.T) string { return replace(t, "    secret: "+secret+"\n", "") },
			[]string{"repos.site.secret: required"}},
		{"empty secret", func(t *testing.T) string { return replace(t, "secret: "+secret, `secret: ""`) },
			[]string{"repos.site.secret: required"}},
		{"secret and secret_file", func(t *testing.T) string { return base + "    secret_file: /etc/hostname\n" },
			[]string{"repos.site.secret_file: set secret or secret_file, not both"}},
		{"missing secret_file", func(t *testing.T) string {
			return replace(t, "secret: "+secret, "secret_file: nope.secret")
		}, []string{`repos.site.secret_file: cannot be read: no such file or directory (got "/`}},
		{"command as a map", func(t *testing.T) string { return replace(t, "[make deploy]", "[{shell: make}]") },
			[]string{"repos.site.branches.main.commands[0]: must be a string (run by /bin/sh -c) or a list"}},
		{"empty command", func(t *testing.T) string { return replace(t, "[make deploy]", `["  "]`) },
			[]string{"repos.site.branches.main.commands[0]: must not be empty"}},
		{"empty follow-up commands", func(t *testing.T) string {
			return replace(t, "commands: [make deploy]", "commands: [make deploy]\n        on_failure: [[]]\n        always: [ok, \"\"]")
		}, []string{"repos.site.branches.main.on_failure[0]: ", "repos.site.branches.main.always[1]: must not be empty"}},
		{"empty program", func(t *testing.T) string { return replace(t, "[make deploy]", `[["", x]]`) },
			[]string{"repos.site.branches.main.commands[0]: the first item of an argv list"}},
		{"no commands", func(t *testing.T) string { return replace(t, "commands: [make deploy]", "workdir: .") },
			[]string{"repos.site.branches.main.commands: at least one command is required"}},
		{"no branch or environment", func(t *testing.T) string {
			return replace(t, "    branches:\n      main:\n        commands: [make deploy]\n", "")
		}, []string{"repos.site: needs at least one branch or environment"}},
		{"no repos", func(t *testing.T) string { return "state_dir: ./state\n" },
			[]string{"repos: at least one repository is required"}},
		{"daemon values", func(t *testing.T) string {
			return "listen: localhost\nworkers: 0\nqueue_size: 0\nmax_body_bytes: 10\nlog: {level: verbose, format: xml}\n" +
				replace(t, "state_dir: ./state\n", "")
		}, []string{
			`listen: must be host:port, such as 127.0.0.1:9000 (got "localhost")`,
			"workers: must be at least 1 (got 0)", "queue_size: must be at least 1 (got 0)",
			"state_dir: required", "max_body_bytes: must be at least 1024 (got 10)",
			`log.level: must be one of trace, debug, info, warn, error (got "verbose")`,
			`log.format: must be one of json, console (got "xml")`,
		}},
		{"bad port", func(t *testing.T) string { return "listen: 127.0.0.1:http\n" + base },
			[]string{"listen: port must be a number"}},
		{"public_url relative", func(t *testing.T) string { return "public_url: deploy.example.com\n" + base },
			[]string{`public_url: must be an absolute http:// or https:// URL, such as https://deploy.example.com (got "deploy.example.com")`}},
		{"public_url with credentials", func(t *testing.T) string { return "public_url: https://a:b@x.example\n" + base },
			[]string{"public_url: must not hold credentials"}},
		{"public_url with query", func(t *testing.T) string { return "public_url: https://x.example/?a=1\n" + base },
			[]string{"public_url: must not have a query or fragment"}},
		{"repo name", func(t *testing.T) string { return replace(t, "  site:", "  my site:") },
			[]string{`repos: entry name must match ^[A-Za-z0-9][A-Za-z0-9._-]*$ (got "my site")`}},
		{"provider", func(t *testing.T) string { return replace(t, "provider: github", "provider: bitbucket") },
			[]string{`repos.site.provider: must be one of github, gitlab, gogs, gitea, forgejo, git (got "bitbucket")`}},
		{"provider gitea, owner/name", func(t *testing.T) string {
			return strings.NewReplacer("provider: github", "provider: gitea", "repository: example/site", "repository: a/b/c").Replace(base)
		}, []string{`repos.site.repository: must be owner/name (got "a/b/c")`}},
		{"repository with subgroup on github", func(t *testing.T) string {
			return replace(t, "repository: example/site", "repository: a/b/c")
		}, []string{`repos.site.repository: must be owner/name (got "a/b/c")`}},
		{"repository with dot-dot", func(t *testing.T) string {
			return replace(t, "repository: example/site", "repository: example/../site")
		}, []string{"repos.site.repository: must not hold a . or .. segment"}},
		{"repository with slash", func(t *testing.T) string {
			return replace(t, "repository: example/site", "repository: /example/site")
		}, []string{"repos.site.repository: must not start or end with /"}},
		{"missing remote and path", func(t *testing.T) string {
			return strings.NewReplacer("    remote: https://github.com/example/site.git\n", "", "    path: ./site\n", "").Replace(base)
		}, []string{"repos.site.remote: required", "repos.site.path: required"}},
		{"path parent missing", func(t *testing.T) string { return replace(t, "path: ./site", "path: ./no/site") },
			[]string{"repos.site.path: parent folder"}},
		{"depth", func(t *testing.T) string { return base + "    depth: -1\n" },
			[]string{"repos.site.depth: must be 0 (full history) or more (got -1)"}},
		{"deploy_on", func(t *testing.T) string { return base + "    deploy_on: [success, done]\n" },
			[]string{`repos.site.deploy_on[1]: must be one of created, running, success, failed, canceled (got "done")`}},
		{"branch names", func(t *testing.T) string {
			return base + "      feat..x: {commands: [x]}\n      'a b': {commands: [x]}\n      x.lock: {commands: [x]}\n"
		}, []string{
			`repos.site.branches: not a valid git branch name: holds .. (got "feat..x")`,
			`(got "a b")`, `(got "x.lock")`,
		}},
		{"env names", func(t *testing.T) string {
			return base + "        env: {WH_REPO: x, 1X: y, OK_NAME: z}\n"
		}, []string{
			`repos.site.branches.main.env: names starting with WH_ are reserved for the daemon (got "WH_REPO")`,
			`repos.site.branches.main.env: not a valid variable name (got "1X")`,
		}},
		{"workdir outside", func(t *testing.T) string { return base + "        workdir: ../x\n" },
			[]string{`repos.site.branches.main.workdir: must stay inside the working copy (got "../x")`}},
		{"workdir absolute", func(t *testing.T) string { return base + "        workdir: /srv\n" },
			[]string{`repos.site.branches.main.workdir: must be relative to the working copy (got "/srv")`}},
		{"branch key under a branch", func(t *testing.T) string { return base + "        branch: dev\n" },
			[]string{`repos.site.branches.main.branch: only used under environments (got "dev")`}},
		{"same working copy", func(t *testing.T) string { return base + entry("copy", "./site") },
			[]string{`repos.site.path: same working copy as repos.copy`}},
		{"nested working copy", func(t *testing.T) string { return base + entry("inner", "./site/inner") },
			[]string{`repos.inner.path: inside the working copy of repos.site`}},
		{"working copy holds state", func(t *testing.T) string { return replace(t, "path: ./site", "path: .") },
			[]string{`repos.site.path: overlaps state_dir`}},
		{"max_delivery_age too short", func(t *testing.T) string { return base + "    max_delivery_age: 30s\n" },
			[]string{`repos.site.max_delivery_age: must be 0 (off) or at least 1m, for clock skew and delivery delay (got 30s)`}},
		{"max_delivery_age negative", func(t *testing.T) string { return base + "    max_delivery_age: -5m\n" },
			[]string{`repos.site.max_delivery_age: must be 0 (off) or at least 1m`}},
		{"max_delivery_age on GitLab", func(t *testing.T) string {
			return replace(t, "provider: github", "provider: gitlab") + "    max_delivery_age: 10m\n"
		}, []string{`repos.site.max_delivery_age: only GitHub deliveries carry a signed time; not available for gitlab (got 10m0s)`}},
		{"max_delivery_age on Gogs", func(t *testing.T) string {
			return replace(t, "provider: github", "provider: gogs") + "    max_delivery_age: 10m\n"
		}, []string{`repos.site.max_delivery_age: only GitHub deliveries carry a signed time; not available for gogs`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := load(t, tt.yaml(t))
			assertErr(t, err, tt.want)
		})
	}
}

func TestAuthErrors(t *testing.T) {
	tests := []struct {
		name, remote, auth string
		want               []string
	}{
		{"ssh key without known_hosts", "git@github.com:example/site.git", "{ssh_key_file: key}",
			[]string{"repos.site.auth.known_hosts_file: required with ssh_key_file"}},
		{"token with ssh", "git@github.com:example/site.git", "{ssh_key_file: key, known_hosts_file: hosts, token_file: token}",
			[]string{"repos.site.auth.token_file: cannot be combined with ssh_key_file"}},
		{"ssh key with https", "https://github.com/example/site.git", "{ssh_key_file: key, known_hosts_file: hosts}",
			[]string{"repos.site.auth.ssh_key_file: needs an ssh remote (got remote https://github.com/example/site.git)"}},
		{"token with ssh remote", "ssh://git@github.com/example/site.git", "{token_file: token}",
			[]string{"repos.site.auth.token_file: needs an http(s) remote"}},
		{"unreadable file", "https://github.com/example/site.git", "{token_file: missing}",
			[]string{"repos.site.auth.token_file: cannot be read: no such file or directory"}},
		{"folder", "https://github.com/example/site.git", "{token_file: .}",
			[]string{"repos.site.auth.token_file: cannot be read: is a folder"}},
		{"username without token", "https://github.com/example/site.git", "{username: bot}",
			[]string{`repos.site.auth.username: only used with token_file (got "bot")`}},
		{"from_status without status", "https://github.com/example/site.git", "{from_status: true}",
			[]string{"repos.site.auth.from_status: needs status.token_file or a GitHub App under status:"}},
		{"from_status with a token", "https://github.com/example/site.git", "{from_status: true, token_file: token}",
			[]string{"repos.site.auth.from_status: cannot be combined with token_file, username or ssh keys"}},
		{"scp-style remote without key", "git@github.com:example/site.git", "{}", []string{
			"repos.site.auth: an SSH remote needs auth.ssh_key_file and auth.known_hosts_file (without them go-git asks " +
				"an SSH agent, which the service does not have) (got remote git@github.com:example/site.git)"}},
		{"ssh URL without key", "ssh://deploy:pw@git.example.org:2222/example/site.git", "{}", []string{
			"repos.site.auth: an SSH remote needs auth.ssh_key_file and auth.known_hosts_file (without them go-git asks " +
				"an SSH agent, which the service does not have) (got remote ssh://deploy:xxxxx@git.example.org:2222/example/site.git)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := replace(t, "https://github.com/example/site.git", tt.remote) + "    auth: " + tt.auth + "\n"
			dir := write(t, map[string]string{"settings.yaml": yaml, "key": "k", "hosts": "h", "token": "t"})
			_, err := settings.Load(filepath.Join(dir, "settings.yaml"), nil)
			assertErr(t, err, tt.want)
		})
	}
}

func TestShortSecretFiles(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"secret_file", replace(t, "secret: "+secret, "secret_file: short"),
			`repos.site.secret_file: must hold a secret of at least 16 characters; make one with openssl rand -hex 32 (got 12 characters in "`},
		{"api token_file", "api: {token_file: short}\n" + base,
			`api.token_file: must hold a token of at least 16 characters; make one with openssl rand -hex 32 (got 12 characters in "`},
		{"metrics token_file", "metrics: {token_file: short}\n" + base,
			`metrics.token_file: must hold a token of at least 16 characters; make one with openssl rand -hex 32 (got 12 characters in "`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := write(t, map[string]string{"settings.yaml": tt.yaml, "short": "0123456789ab\n"})
			_, err := settings.Load(filepath.Join(dir, "settings.yaml"), nil)
			assertErr(t, err, []string{tt.want})
			if strings.Contains(err.Error(), "0123456789ab") {
				t.Errorf("error shows the secret:\n%v", err)
			}
		})
	}
}

func TestRepositoryAsURL(t *testing.T) {
	tests := []struct {
		provider, want string
		repositories   []string
	}{
		{"github", "acme/site", []string{"https://github.com/acme/site", "https://github.com/acme/site.git",
			"https://github.com/acme/site/tree/main", "git@github.com:acme/site.git", "ssh://git@github.com/acme/site.git",
			"github.com/acme/site", "acme/site.git"}},
		{"gitea", "acme/site", []string{"https://git.example.org/acme/site/"}},
		{"gitlab", "acme/web/shop", []string{"https://gitlab.com/acme/web/shop.git", "git@gitlab.com:acme/web/shop.git"}},
	}
	for _, tt := range tests {
		for _, repository := range tt.repositories {
			t.Run(tt.provider+" "+repository, func(t *testing.T) {
				yaml := strings.NewReplacer("provider: github", "provider: "+tt.provider,
					"repository: example/site", "repository: "+repository).Replace(base)
				_, _, err := load(t, yaml)
				assertErr(t, err, []string{fmt.Sprintf("repos.site.repository: must be the forge's owner/name, not a clone URL: "+
					"write it as %s (got %q)", tt.want, repository)})
			})
		}
	}
}

func TestThreeMistakesOneError(t *testing.T) {
	yaml := "workers: 0\n" + base + "        timeout: -1s\n    branchs: {}\n"
	_, _, err := load(t, yaml)
	assertErr(t, err, []string{
		"workers: must be at least 1 (got 0)",
		"repos.site.branchs: unknown key",
		"repos.site.branches.main.timeout: must be positive (got -1s)",
	})
	if n := strings.Count(err.Error(), "\n"); n != 3 {
		t.Errorf("error has %d lines after the first, want 3:\n%v", n, err)
	}
}

func TestErrorNeverShowsSecret(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  []string
	}{
		{"secret and secret_file", base + "    secret_file: /etc/hostname\n", nil},
		{"errors next to the secret", "workers: 0\n" + base + "    secrte: x\n", nil},
		{"secret from env", strings.Replace(base, "secret: "+secret, "secret_file: /nope", 1),
			[]string{"WH_GITD_REPOS__SITE__SECRET=" + secret, "WH_GITD_WORKERS=x"}},
		{"secret in an unknown env key", base, []string{"WH_GITD_REPOS__SITE__SECRTE=" + secret}},
		{"password in the remote", strings.Replace(base, "https://github.com/", "https://bot:"+secret+"@github.com/", 1) +
			"    auth: {ssh_key_file: /nope}\n", nil},
		{"secret of the wrong type", strings.Replace(base, "secret: "+secret, "secret: ["+secret+"]", 1), nil},
		{"short secret", strings.Replace(base, "secret: "+secret, "secret: "+secret[:15], 1), nil},
		{"short secret from env", base, []string{"WH_GITD_REPOS__SITE__SECRET=" + secret[:15]}},
		{"short api token", "api: {token: " + secret[:15] + "}\n" + base, nil},
		{"short metrics token", "metrics: {token: " + secret[:15] + "}\n" + base, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := load(t, tt.yaml, tt.env...)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			if strings.Contains(err.Error(), secret[:15]) {
				t.Errorf("error shows the secret:\n%v", err)
			}
		})
	}
}

func TestFileErrors(t *testing.T) {
	dir := write(t, map[string]string{"bad.yaml": "repos:\n  site: [\n", "empty.secret": "\n\n"})
	tests := []struct {
		name, file string
		want       []string
	}{
		{"syntax error", "bad.yaml", []string{"parse settings " + filepath.Join(dir, "bad.yaml") + ": yaml: line"}},
		{"missing file", "nope.yaml", []string{"read settings: open " + filepath.Join(dir, "nope.yaml")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := settings.Load(filepath.Join(dir, tt.file), nil)
			assertErr(t, err, tt.want)
		})
	}
	t.Run("empty secret file", func(t *testing.T) {
		yaml := replace(t, "secret: "+secret, "secret_file: "+filepath.Join(dir, "empty.secret"))
		_, _, err := load(t, yaml)
		assertErr(t, err, []string{"repos.site.secret_file: is empty"})
	})
}

func TestValidateHandBuilt(t *testing.T) {
	err := (&settings.Settings{}).Validate()
	assertErr(t, err, []string{"listen: must be host:port", "workers: must be at least 1", "repos: at least one repository"})
}
