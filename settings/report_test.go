package settings_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/settings"
)

// withProvider is base with the entry's provider replaced.
func withProvider(t *testing.T, provider string) string {
	return replace(t, "provider: github", "provider: "+provider)
}

// The status, notify and report keys: what each refuses.
func TestReportErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml func(t *testing.T) string
		want []string
	}{
		{"gogs has no status API", func(t *testing.T) string {
			return withProvider(t, "gogs") + "    status: {token_file: /etc/hostname, commits: true}\n"
		}, []string{"repos.site.status: Gogs has no commit status API: remove status: (Gitea and Forgejo have one"}},
		{"gitea needs api_url", func(t *testing.T) string {
			return withProvider(t, "gitea") + "    status: {token_file: /etc/hostname, commits: true}\n"
		}, []string{"repos.site.status.api_url: required for gitea, such as https://git.example.com/api/v1"}},
		{"no credentials", func(t *testing.T) string { return base + "    status: {commits: true}\n" },
			[]string{"repos.site.status: needs token_file, or app_id, installation_id and private_key_file"}},
		{"token and app", func(t *testing.T) string {
			return base + "    status: {token_file: /etc/hostname, app_id: 1, installation_id: 2, private_key_file: /etc/hostname}\n"
		}, []string{"repos.site.status: set token_file or app_id, installation_id and private_key_file, not both"}},
		{"app without its installation", func(t *testing.T) string {
			return base + "    status: {app_id: 1, private_key_file: /etc/hostname}\n"
		}, []string{"repos.site.status: a GitHub App needs app_id, installation_id and private_key_file, all three",
			"repos.site.status.private_key_file: holds no PEM block"}},
		{"app on gitlab", func(t *testing.T) string {
			return withProvider(t, "gitlab") + "    status: {app_id: 1, installation_id: 2, private_key_file: /etc/hostname}\n"
		}, []string{"repos.site.status.app_id: GitHub Apps post statuses to GitHub only (provider is gitlab): use token_file"}},
		{"missing token file", func(t *testing.T) string { return base + "    status: {token_file: /nonexistent/t}\n" },
			[]string{`repos.site.status.token_file: cannot be read: no such file or directory (got "/nonexistent/t")`}},
		{"api_url not a URL", func(t *testing.T) string {
			return base + "    status: {token_file: /etc/hostname, api_url: api.github.com}\n"
		}, []string{`repos.site.status.api_url: must be an absolute http:// or https:// URL (got "api.github.com")`}},
		{"notify type", func(t *testing.T) string { return "notify: [{type: telegram, url: https://x.example}]\n" + base },
			[]string{`notify[0].type: must be one of webhook, slack, mattermost, discord, matrix (got "telegram")`}},
		{"notify without url", func(t *testing.T) string { return "notify: [{type: slack}]\n" + base },
			[]string{"notify[0].url: required (or url_file)"}},
		{"notify event", func(t *testing.T) string {
			return "notify: [{type: slack, url: https://x.example, on: [failure, started]}]\n" + base
		}, []string{`notify[0].on[1]: must be one of failure, recovery, success, all (got "started")`}},
		{"notify names", func(t *testing.T) string {
			return "notify: [{type: slack, url: https://x.example}, {type: slack, url: https://y.example}]\n" + base
		}, []string{`notify[1].name: another target of this list has the same name: set name: (got "slack")`}},
		{"secret of a chat target", func(t *testing.T) string {
			return "notify: [{type: discord, url: https://x.example, secret: 0123456789abcdefgh}]\n" + base
		}, []string{"notify[0].secret: only a webhook's body is signed (type is discord)"}},
		{"url of a branch", func(t *testing.T) string { return base + "        url: https://x.example\n" },
			[]string{`repos.site.branches.main.url: only used under environments (got "https://x.example")`}},
		{"report durations", func(t *testing.T) string { return "report: {give_up: 0s, backoff: -1s}\n" + base },
			[]string{"report.give_up: must be positive (got 0s)", "report.backoff: must be positive (got -1s)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := load(t, tc.yaml(t))
			assertErr(t, err, tc.want)
		})
	}
}

// Defaults: the public API of the forge, 24h, names from types, failure
// and recovery; files are read and the App's key parsed.
func TestReportDefaults(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	dir := write(t, map[string]string{
		"token":   "tok-123\n",
		"app.pem": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: must(x509.MarshalPKCS8PrivateKey(key))})),
		"hook":    "https://hooks.example.com/T/B/x\n",
	})
	yaml := "state_dir: ./state\nnotify: [{type: webhook, url_file: hook, secret: 0123456789abcdefgh}]\nrepos:\n" +
		entry("site", "./site") +
		"    status: {app_id: 1, installation_id: 2, private_key_file: app.pem}\n" +
		"    notify: [{type: slack, url: https://x.example, on: [all]}]\n" +
		strings.Replace(entry("lab", "./lab"), "provider: github", "provider: gitlab", 1) +
		"    status: {token_file: token, commits: true}\n"
	testkit.WriteFile(t, filepath.Join(dir, "settings.yaml"), yaml)
	s, err := settings.Load(filepath.Join(dir, "settings.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	site, lab := s.Repos["site"], s.Repos["lab"]
	if site.Status.APIURL != settings.GitHubAPI || lab.Status.APIURL != settings.GitLabAPI || lab.Status.Token != "tok-123" ||
		site.Status.PrivateKey == nil || !site.Status.PrivateKey.Equal(key) || !site.Status.Enabled() {
		t.Errorf("status %+v / %+v", site.Status, lab.Status)
	}
	if s.Report.GiveUp != 24*time.Hour || s.Report.Backoff != time.Minute || s.Report.Timeout != 10*time.Second {
		t.Errorf("report %+v", s.Report)
	}
	all := s.NotifyFor(site)
	if len(all) != 2 || all[0].Name != "slack" || all[1].Name != "webhook" || all[1].URL != "https://hooks.example.com/T/B/x" ||
		!slices.Equal(all[1].On, []string{"failure", "recovery"}) || !all[0].Wants("success") || all[1].Wants("success") ||
		!all[1].Wants("recovery") {
		t.Errorf("notify %+v %+v", all[0], all[1])
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
