package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

// sshRig is an sshd of the test's own on a loopback port, whose
// authorized_keys lets two keys in with wh-git-trigger --git-shell as
// their forced command.
type sshRig struct {
	dir, addr, port, user string
	key, other            string // private key files; site's push_keys lists key's fingerprint only
	fingerprint           string // of key
	log                   *lockedBuffer
}

// keygen makes an ed25519 key pair at path and returns its fingerprint.
func keygen(t *testing.T, path string) string {
	t.Helper()
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	out, err := exec.Command("ssh-keygen", "-lf", path+".pub").Output()
	if err != nil {
		t.Fatalf("ssh-keygen -lf: %v", err)
	}
	return strings.Fields(string(out))[1]
}

// startSSHD starts sshd for the settings file; skips when sshd is not
// installed.
func startSSHD(t *testing.T, settingsFile string) *sshRig {
	t.Helper()
	sshd := "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		t.Skipf("%s is not installed (Debian: apt-get install openssh-server): %v", sshd, err)
	}
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("the ssh client is not installed")
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &sshRig{dir: dir, addr: testkit.FreeAddr(t), user: u.Username, log: &lockedBuffer{},
		key: filepath.Join(dir, "key"), other: filepath.Join(dir, "other")}
	_, s.port, _ = net.SplitHostPort(s.addr)
	config := s.configure(t, settingsFile)
	if os.Geteuid() == 0 {
		_ = os.MkdirAll("/run/sshd", 0o755) // sshd's privilege separation folder
	}
	cmd := exec.Command(sshd, "-D", "-e", "-f", config)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("sshd:\n%s", s.log)
		}
	})
	testkit.Eventually(t, "sshd listens", 60*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return s
}

// configure makes the host key, the two client keys, authorized_keys,
// known_hosts and sshd_config, and returns sshd_config's path.
func (s *sshRig) configure(t *testing.T, settingsFile string) string {
	t.Helper()
	dir := s.dir
	hostKey := filepath.Join(dir, "host_key")
	keygen(t, hostKey)
	s.fingerprint = keygen(t, s.key)
	otherFP := keygen(t, s.other)
	var auth strings.Builder
	for _, k := range []struct{ file, fp string }{{s.key, s.fingerprint}, {s.other, otherFP}} {
		auth.WriteString(`command="` + bins.trigger + " " + settingsFile + " --git-shell " + k.fp +
			`",no-port-forwarding,no-X11-forwarding,no-agent-forwarding,no-pty ` + testkit.ReadFile(t, k.file+".pub") + "\n")
	}
	testkit.WriteFile(t, filepath.Join(dir, "authorized_keys"), auth.String())
	pub := strings.Fields(testkit.ReadFile(t, hostKey+".pub"))
	testkit.WriteFile(t, filepath.Join(dir, "known_hosts"), "[127.0.0.1]:"+s.port+" "+pub[0]+" "+pub[1]+"\n")
	config := testkit.WriteFile(t, filepath.Join(dir, "sshd_config"), strings.Join([]string{
		"ListenAddress " + s.addr, "HostKey " + hostKey, "AuthorizedKeysFile " + filepath.Join(dir, "authorized_keys"),
		"PidFile none", "StrictModes no", "UsePAM no", "PermitRootLogin prohibit-password",
		"PasswordAuthentication no", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
		"LogLevel VERBOSE", ""}, "\n"))
	return config
}

// ssh is the ssh command line that logs in with key.
func (s *sshRig) ssh(key string) []string {
	return []string{"ssh", "-F", "/dev/null", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "UserKnownHostsFile=" + filepath.Join(s.dir, "known_hosts"), "-o", "StrictHostKeyChecking=yes", "-p", s.port}
}

// run runs ssh with key and the remote command, and returns its exit
// code and stderr.
func (s *sshRig) run(t *testing.T, key string, remote ...string) (int, string) {
	t.Helper()
	args := append(s.ssh(key)[1:], append([]string{"-T", s.user + "@127.0.0.1"}, remote...)...)
	cmd := exec.Command("ssh", args...)
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stderr = strings.NewReader(""), &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), stderr.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, stderr.String()
}

// Over real SSH, a key whose forced command is wh-git-trigger --git-shell
// pushes (which deploys) and fetches, and can do nothing else: another
// command, another path, a second command after the first, or an entry
// its fingerprint is not listed for are refused, with one line, and
// create nothing.
func TestPushOverSSH(t *testing.T) {
	r := newPushRig(t, "")
	s := startSSHD(t, r.file)
	site := testkit.ReadFile(t, r.file)
	site = strings.Replace(site, `    path: "wc-site"`, "    path: \"wc-site\"\n    push_keys: ["+s.fingerprint+"]", 1)
	testkit.WriteFile(t, r.file, site)
	startDaemon(t, r.file)

	sha := r.commit(t, "main", "over ssh")
	push := r.git("push", "ssh://"+s.user+"@127.0.0.1:"+s.port+"/site", "main")
	push.Env = append(push.Env, "GIT_SSH_COMMAND="+strings.Join(s.ssh(s.key), " "))
	out, err := push.CombinedOutput()
	t.Logf("$ git push ssh://%s@127.0.0.1:%s/site main\n%s", s.user, s.port, out)
	if err != nil {
		t.Fatalf("git push over ssh: %v", err)
	}
	contains(t, "the pusher's output", string(out), "remote: wh-gitd: site main: succeeded: deployed "+sha[:12], "site says over ssh")
	if got := testkit.Head(t, filepath.Join(r.dir, "wc-site")); got != sha {
		t.Errorf("wc-site at %s, want %s", got, sha)
	}
	_, list, _ := exitCode(t, bins.trigger, r.file, "--list")
	_, show, _ := exitCode(t, bins.trigger, r.file, "--show", strings.Fields(strings.Split(list, "\n")[1])[0])
	contains(t, "the job", show, `"pusher": "`+s.user+` (key `+s.fingerprint+`)"`)

	fetch := r.git("ls-remote", s.user+"@127.0.0.1:site.git", "main")
	fetch.Env = append(fetch.Env, "GIT_SSH_COMMAND="+strings.Join(s.ssh(s.key), " "))
	if got, err := fetch.Output(); err != nil || !strings.HasPrefix(string(got), sha) {
		t.Errorf("ls-remote over ssh: %v %q", err, got)
	}

	marker := filepath.Join(s.dir, "X")
	refusals := []struct {
		name, key, command, says string
	}{
		{"a path outside", s.key, "git-receive-pack '../../etc'", "refused: the repository's name holds .. or starts with -"},
		{"another command", s.key, "id", "refused: this key may only push or fetch with git"},
		{"a second command", s.key, "git-receive-pack 'site'; touch " + marker, "refused: more than one argument"},
		{"a login shell", s.key, "", "refused: this key may only push or fetch with git"},
		{"an unknown repository", s.key, "git-receive-pack 'other.git'", `refused: no repository "other.git" here`},
		{"a key not in push_keys", s.other, "git-receive-pack 'site'", `refused: this key may not use "site"`},
	}
	before := testkit.Git(t, r.bare, "for-each-ref")
	for _, tc := range refusals {
		code, stderr := s.run(t, tc.key, tc.command)
		if code != 1 || !strings.HasPrefix(stderr, "wh-git-trigger: "+tc.says) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q, want exit 1 and one line %q", tc.name, code, stderr, tc.says)
		}
	}
	if testkit.Exists(marker) {
		t.Errorf("%s was created", marker)
	}
	if after := testkit.Git(t, r.bare, "for-each-ref"); after != before {
		t.Errorf("the repository changed:\n%s\nwant:\n%s", after, before)
	}
}
