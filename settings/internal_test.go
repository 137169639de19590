package settings

import (
	"os/exec"
	"slices"
	"testing"
)

func TestBranchNames(t *testing.T) {
	valid := []string{"main", "feature/login", "release/v1.2", "-rf", "x$(touch)", "x;rm", "`id`", "a|b&c>d", "HEAD",
		"a]b", "ünïcode"}
	invalid := []string{"x$(touch C)", // the space, not the $( )
		"", "a b", "a\tb", "a\x7fb", "a~1", "a^", "a:b", "a?", "a*", "a[b", `a\b`, "a..b", "a@{1}", "a.lock", "a.lock/b",
		"a/", "/a", "a.", "a//b", ".a", "a/.b"}
	git, _ := exec.LookPath("git")
	for _, name := range slices.Concat(valid, invalid) {
		t.Run(name, func(t *testing.T) {
			want := slices.Contains(valid, name)
			msg := branchNameProblem(name)
			if (msg == "") != want {
				t.Errorf("branchNameProblem(%q) = %q, want valid=%v", name, msg, want)
			}
			if git == "" || name == "" {
				return
			}
			gitValid := exec.Command(git, "check-ref-format", "refs/heads/"+name).Run() == nil
			if gitValid != want {
				t.Errorf("git check-ref-format says valid=%v for %q", gitValid, name)
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
	valid := []string{"127.0.0.1:9000", ":9000", "[::1]:9000", "localhost:0"}
	for _, listen := range slices.Concat(valid, []string{"localhost", "127.0.0.1:http", "127.0.0.1:70000", ""}) {
		t.Run(listen, func(t *testing.T) {
			if msg, want := listenProblem(listen), slices.Contains(valid, listen); (msg == "") != want {
				t.Errorf("listenProblem(%q) = %q, want valid=%v", listen, msg, want)
			}
		})
	}
}
