package settings_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/settings"
)

func TestDefaults(t *testing.T) {
	s, _ := mustLoad(t, base)
	site, ok := s.Repo("site")
	if !ok {
		t.Fatal("no repo site")
	}
	main := site.Branches["main"]
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", s.Listen, "127.0.0.1:9000"},
		{"workers", s.Workers, 2},
		{"queue_size", s.QueueSize, 256},
		{"max_body_bytes", s.MaxBodyBytes, int64(26214400)},
		{"shutdown_grace", s.ShutdownGrace, 30 * time.Second},
		{"kill_grace", s.KillGrace, 10 * time.Second},
		{"log.level", s.Log.Level, "info"},
		{"log.format", s.Log.Format, "json"},
		{"name", site.Name, "site"},
		{"depth", site.Depth, 1},
		{"git_timeout", site.GitTimeout, 5 * time.Minute},
		{"deploy_on", site.DeployOn, []string{"success"}},
		{"username", site.Auth.Username, ""},
		{"workdir", main.Workdir, "."},
		{"timeout", main.Timeout, 10 * time.Minute},
		{"shared_path", site.SharedPath, false},
		{"always_run", site.AlwaysRun, false},
		{"target path", main.Path, ""},
		{"refs", main.Refs, []string(nil)},
		{"working copy", site.WorkingCopy(main), site.Path},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestDepth(t *testing.T) {
	tests := []struct {
		name string
		line string
		want int
	}{
		{"absent", "", 1},
		{"null", "    depth: ~\n", 1},
		{"zero is full history", "    depth: 0\n", 0},
		{"fifty", "    depth: 50\n", 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := mustLoad(t, base+tt.line)
			if got := s.Repos["site"].Depth; got != tt.want {
				t.Errorf("depth = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestMaxDeliveryAge(t *testing.T) {
	s, _ := mustLoad(t, base)
	if got := s.Repos["site"].MaxDeliveryAge; got != 0 {
		t.Errorf("default max_delivery_age = %s, want 0 (off)", got)
	}
	s, _ = mustLoad(t, base+"    max_delivery_age: 15m\n")
	if got := s.Repos["site"].MaxDeliveryAge; got != 15*time.Minute {
		t.Errorf("max_delivery_age = %s, want 15m", got)
	}
}

func TestTokenUsername(t *testing.T) {
	tests := []struct {
		name, provider, username, want string
	}{
		{"github", "github", "", "x-access-token"},
		{"gogs", "gogs", "", "x-access-token"},
		{"gitea", "gitea", "", "x-access-token"},
		{"forgejo", "forgejo", "", "x-access-token"},
		{"gitlab", "gitlab", "", "oauth2"},
		{"explicit", "gitlab", "deployer", "deployer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := strings.Replace(base, "provider: github", "provider: "+tt.provider, 1) +
				"    auth:\n      token_file: token\n"
			if tt.username != "" {
				yaml += "      username: " + tt.username + "\n"
			}
			dir := write(t, map[string]string{"settings.yaml": yaml, "token": "tok\n"})
			s, err := settings.Load(filepath.Join(dir, "settings.yaml"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Repos["site"].Auth.Username; got != tt.want {
				t.Errorf("username = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBools(t *testing.T) {
	s, _ := mustLoad(t, base+"    shared_path: true\n    always_run: true\n")
	if site := s.Repos["site"]; !site.SharedPath || !site.AlwaysRun {
		t.Errorf("shared_path = %v, always_run = %v, want true, true", site.SharedPath, site.AlwaysRun)
	}
	_, _, err := load(t, base+"    always_run: yes\n")
	assertErr(t, err, []string{`repos.site.always_run: must be true or false (got "yes")`})
}

func TestDialect(t *testing.T) {
	tests := []struct{ provider, want string }{
		{settings.GitHub, settings.GitHub},
		{settings.GitLab, settings.GitLab},
		{settings.Gogs, settings.Gogs},
		{settings.Gitea, settings.Gogs},
		{settings.Forgejo, settings.Gogs},
	}
	for _, tt := range tests {
		t.Run(tt.provider, func(t *testing.T) {
			s, _ := mustLoad(t, strings.Replace(base, "provider: github", "provider: "+tt.provider, 1))
			if got := s.Repos["site"].Dialect(); got != tt.want {
				t.Errorf("Dialect() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRelativePaths(t *testing.T) {
	yaml := strings.Replace(base, "    secret: "+secret+"\n", "    secret_file: keys/secret\n", 1) +
		"    auth:\n      token_file: keys/token\n"
	dir := write(t, map[string]string{"conf/settings.yaml": yaml, "conf/keys/secret": secret, "conf/keys/token": "t"})
	t.Chdir(dir)
	s, err := settings.Load("conf/settings.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "conf")
	site := s.Repos["site"]
	checks := []struct{ name, got, want string }{
		{"File", s.File, filepath.Join(conf, "settings.yaml")},
		{"state_dir", s.StateDir, filepath.Join(conf, "state")},
		{"path", site.Path, filepath.Join(conf, "site")},
		{"secret_file", site.SecretFile, filepath.Join(conf, "keys/secret")},
		{"token_file", site.Auth.TokenFile, filepath.Join(conf, "keys/token")},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}

func TestRemote(t *testing.T) {
	tests := []struct{ name, remote, want string }{
		{"https kept", "https://github.com/example/site.git", "https://github.com/example/site.git"},
		{"scp kept", "git@github.com:example/site.git", "git@github.com:example/site.git"},
		{"absolute kept", "/srv/git/site.git", "/srv/git/site.git"},
		{"dot relative", "./bare/site.git", "DIR/bare/site.git"},
		{"dot-dot relative", "../site.git", "PARENT/site.git"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := strings.Replace(base, "https://github.com/example/site.git", tt.remote, 1)
			if strings.Contains(tt.remote, "@") {
				yaml += "    auth: {ssh_key_file: /dev/null, known_hosts_file: /dev/null}\n"
			}
			s, dir := mustLoad(t, yaml)
			want := strings.NewReplacer("PARENT", filepath.Dir(dir), "DIR", dir).Replace(tt.want)
			if got := s.Repos["site"].Remote; got != want {
				t.Errorf("remote = %q, want %q", got, want)
			}
		})
	}
}

func TestCommands(t *testing.T) {
	tests := []struct {
		name  string
		items string
		want  []settings.Command
	}{
		{"string", "[make deploy]", []settings.Command{{Shell: "make deploy"}}},
		{"list", "[[systemctl, restart, site]]", []settings.Command{{Argv: []string{"systemctl", "restart", "site"}}}},
		{"list with a number", "[[sleep, 5]]", []settings.Command{{Argv: []string{"sleep", "5"}}}},
		{"both kinds", "['echo \"$WH_SHA\"', [./deploy.sh, --fast]]", []settings.Command{
			{Shell: `echo "$WH_SHA"`}, {Argv: []string{"./deploy.sh", "--fast"}},
		}},
		{"single string", "make", []settings.Command{{Shell: "make"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := mustLoad(t, strings.Replace(base, "[make deploy]", tt.items, 1))
			if got := s.Repos["site"].Branches["main"].Commands; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("commands = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestSecretFile(t *testing.T) {
	tests := []struct{ name, content string }{
		{"newline", secret + "\n"},
		{"crlf and blanks", secret + " \t\r\n\n"},
		{"bare", secret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := strings.Replace(base, "secret: "+secret, "secret_file: site.secret", 1)
			dir := write(t, map[string]string{"settings.yaml": yaml, "site.secret": tt.content})
			s, err := settings.Load(filepath.Join(dir, "settings.yaml"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Repos["site"].Secret; got != secret {
				t.Errorf("secret = %q, want %q", got, secret)
			}
		})
	}
}

func TestNoSideEffects(t *testing.T) {
	_, dir := mustLoad(t, base)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries after Load, want only settings.yaml", len(entries))
	}
}

func TestExampleFileLoads(t *testing.T) {
	s, err := settings.Load("../settings.example.yaml", nil)
	if err != nil {
		t.Fatalf("settings.example.yaml: %v", err)
	}
	site, ok := s.Repo("site")
	if !ok {
		t.Fatal("no repo site in the example")
	}
	cmds := site.Branches["main"].Commands
	if len(cmds) != 2 || cmds[0].Shell == "" || len(cmds[1].Argv) == 0 {
		t.Errorf("main commands = %#v, want a shell string then an argv list", cmds)
	}
	if _, ok := site.Environments["production"]; !ok {
		t.Error("no environment production in the example")
	}
	root, _ := filepath.Abs("..")
	if want := filepath.Join(root, "example-site"); site.Path != want {
		t.Errorf("path = %q, want %q", site.Path, want)
	}
}

func TestRepoLookup(t *testing.T) {
	s, _ := mustLoad(t, base)
	if _, ok := s.Repo("nope"); ok {
		t.Error(`Repo("nope") found an entry`)
	}
	if got := s.RepoNames(); !reflect.DeepEqual(got, []string{"site"}) {
		t.Errorf("RepoNames = %v", got)
	}
}

// Load never panics on any file and any environment, and what it accepts
// is complete: at least one entry, each with a provider, a secret and an
// absolute working copy for every target, and it validates again.
func FuzzLoad(f *testing.F) {
	example, err := os.ReadFile("../settings.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(example), "WH_GITD_LOG__LEVEL", "debug")
	f.Add(base, "WH_GITD_REPOS__SITE__SECRET", "from-the-environment")
	f.Add(base+"    allow: [10.0.0.0/8]\n", "WH_GITD_HTTP__READ_TIMEOUT", "3s")
	f.Add(strings.Replace(base, "    path: ./site\n", "", 1)+"        path: ./a\n", "WH_GITD_REPOS__SITE__BRANCHES__MAIN__PATH", "b")
	f.Add(base+"    environments: {p: {refs: [v*, '['], commands: [x]}}\n", "WH_GITD_REPOS__SITE__SHARED_PATH", "true")
	f.Add("allow: [x]\ntls: {cert_file: a}\n"+base, "WH_GITD_REPOS__SITE__BRANCHES__MAIN__ENV__X", "1")
	f.Add("repos: {a: {branches: {b: {commands: [[]]}}}}", "WH_GITD_REPOS____X", "")
	f.Add("a: &a [*a, *a]\n", "WH_GITD_", "")
	f.Fuzz(func(t *testing.T, yaml, envName, envValue string) {
		s, _, err := load(t, yaml, envName+"="+envValue)
		if err != nil {
			if s != nil {
				t.Fatalf("Load returned settings with an error: %v", err)
			}
			return
		}
		if len(s.Repos) == 0 {
			t.Fatal("accepted settings without a repository")
		}
		for name, r := range s.Repos {
			if r == nil || r.Name != name || r.Secret == "" || r.Provider == "" ||
				len(r.Branches)+len(r.Environments) == 0 {
				t.Fatalf("accepted an incomplete entry %q: %+v", name, r)
			}
			for _, targets := range []map[string]*settings.Target{r.Branches, r.Environments} {
				for tn, target := range targets {
					if target == nil || !filepath.IsAbs(r.WorkingCopy(target)) {
						t.Fatalf("accepted entry %q with target %q without an absolute working copy", name, tn)
					}
				}
			}
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("accepted settings do not validate again: %v", err)
		}
	})
}

func TestJobURL(t *testing.T) {
	for _, c := range []struct{ base, id, want string }{
		{"", "abc", ""},
		{"https://deploy.example.com", "", ""},
		{"https://deploy.example.com", "20261203-abc", "https://deploy.example.com/jobs/20261203-abc"},
		{"https://example.com/wh/", "a b", "https://example.com/wh/jobs/a%20b"},
	} {
		s := &settings.Settings{PublicURL: c.base}
		if got := s.JobURL(c.id); got != c.want {
			t.Errorf("JobURL(%q) with public_url %q = %q, want %q", c.id, c.base, got, c.want)
		}
	}
}
