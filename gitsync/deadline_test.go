package gitsync

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"
)

// An SSH server that accepts the connection and never speaks fails the
// sync at its timeout: the handshake, which go-git runs without the
// context, is bounded too.
func TestSSHServerThatNeverSpeaks(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	key, known := sshFiles(t, ln.Addr().String())
	f := newFixture(t)
	tg := f.target()
	tg.Remote = "ssh://git@" + ln.Addr().String() + "/x.git"
	tg.Auth = Auth{SSHKeyFile: key, KnownHostsFile: known}
	tg.Timeout = time.Second
	start := time.Now()
	_, _, err = f.trySync(tg)
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("took %s, want about the 1s timeout", took)
	}
	if err == nil || !strings.Contains(err.Error(), "i/o timeout") {
		t.Errorf("err = %v, want an i/o timeout", err)
	}
}

func TestHostKeyError(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"unknown", fmt.Errorf("ssh: handshake failed: %w", &knownhosts.KeyError{}), "is not in known_hosts_file"},
		{"changed", fmt.Errorf("ssh: handshake failed: %w", &knownhosts.KeyError{Want: []knownhosts.KnownKey{{}}}),
			"does not match known_hosts_file"},
		{"other", errors.New("connection refused"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := hostKeyError(tc.err, "git.example.com")
			if tc.want == "" {
				if got != nil {
					t.Errorf("got %v, want nil", got)
				}
				return
			}
			if got == nil || !strings.Contains(got.Error(), "host key of git.example.com "+tc.want) || !errors.Is(got, tc.err) {
				t.Errorf("got %v, want %q wrapping the original", got, tc.want)
			}
		})
	}
}
