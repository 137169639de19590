package settings

import (
	"os/exec"
	"testing"
)

func TestBranchNames(t *testing.T) {
	tests := []struct {
		name  string
		valid bool
	}{
		{"main", true},
		{"feature/login", true},
		{"release/v1.2", true},
		{"-rf", true},
		{"x$(touch)", true},
		{"x;rm", true},
		{"`id`", true},
		{"a|b&c>d", true},
		{"HEAD", true},
		{"a]b", true},
		{"ünïcode", true},
		{"x$(touch C)", false}, // the space, not the $( )
		{"", false},
		{"a b", false},
		{"a\tb", false},
		{"a\x7fb", false},
		{"a~1", false},
		{"a^", false},
		{"a:b", false},
		{"a?", false},
		{"a*", false},
		{"a[b", false},
		{`a\b`, false},
		{"a..b", false},
		{"a@{1}", false},
		{"a.lock", false},
		{"a.lock/b", false},
		{"a/", false},
		{"/a", false},
		{"a.", false},
		{"a//b", false},
		{".a", false},
		{"a/.b", false},
	}
	git, _ := exec.LookPath("git")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := branchNameProblem(tt.name)
			if (msg == "") != tt.valid {
				t.Errorf("branchNameProblem(%q) = %q, want valid=%v", tt.name, msg, tt.valid)
			}
			if git == "" || tt.name == "" {
				return
			}
			gitValid := exec.Command(git, "check-ref-format", "refs/heads/"+tt.name).Run() == nil
			if gitValid != tt.valid {
				t.Errorf("git check-ref-format says valid=%v for %q", gitValid, tt.name)
			}
		})
	}
}

func TestParseName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"listen", "listen"},
		{"log.level", "log.level"},
		{"repos[site].branches[main].commands[0]", "repos.site.branches.main.commands[0]"},
		{"repos[my.site].deploy_on[2]", "repos.my.site.deploy_on[2]"},
		{"repos[a[1]b].path", "repos.a[1]b.path"},
		{"repos[site].branches[a]b].timeout", "repos.site.branches.a]b.timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := parseName(tt.in).String(); got != tt.want {
				t.Errorf("parseName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRemoteKind(t *testing.T) {
	tests := []struct{ remote, want string }{
		{"https://github.com/a/b.git", "http"},
		{"HTTP://host/a", "http"},
		{"ssh://git@host:22/a/b.git", "ssh"},
		{"git@github.com:a/b.git", "ssh"},
		{"host:a/b", "ssh"},
		{"/srv/git/a.git", "local"},
		{"./a:b", "local"},
		{"file:///srv/a.git", "local"},
		{"git://host/a", "other"},
	}
	for _, tt := range tests {
		t.Run(tt.remote, func(t *testing.T) {
			if got := remoteKind(tt.remote); got != tt.want {
				t.Errorf("remoteKind(%q) = %q, want %q", tt.remote, got, tt.want)
			}
		})
	}
}

func TestListen(t *testing.T) {
	tests := []struct {
		listen string
		valid  bool
	}{
		{"127.0.0.1:9000", true},
		{":9000", true},
		{"[::1]:9000", true},
		{"localhost:0", true},
		{"localhost", false},
		{"127.0.0.1:http", false},
		{"127.0.0.1:70000", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.listen, func(t *testing.T) {
			if msg := listenProblem(tt.listen); (msg == "") != tt.valid {
				t.Errorf("listenProblem(%q) = %q, want valid=%v", tt.listen, msg, tt.valid)
			}
		})
	}
}
