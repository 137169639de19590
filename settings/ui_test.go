package settings_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/settings"
)

// ui: reads the page's password from a file relative to the settings, and
// a login lasts 12h unless session_ttl says otherwise.
func TestUISettings(t *testing.T) {
	s, _, err := load(t, base)
	if err != nil {
		t.Fatal(err)
	}
	if s.UI.SessionTTL != 12*time.Hour || s.UI.Password != "" {
		t.Errorf("defaults: %+v", s.UI)
	}
	dir := write(t, map[string]string{"ui.password": "a-page-password-0123\n",
		"settings.yaml": "ui: {password_file: ui.password, session_ttl: 30m}\n" + base})
	s, err = settings.Load(filepath.Join(dir, "settings.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.UI.Password != "a-page-password-0123" || s.UI.PasswordFile != filepath.Join(dir, "ui.password") ||
		s.UI.SessionTTL != 30*time.Minute {
		t.Errorf("ui: %+v", s.UI)
	}
}

func TestUIErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"short password", "ui: {password_file: short}\n" + base,
			`ui.password_file: must hold a password of at least 16 characters; make one with openssl rand -hex 32 (got 12 characters in "`},
		{"missing password file", "ui: {password_file: nope}\n" + base,
			`ui.password_file: cannot be read: no such file or directory (got "`},
		{"session too short", "ui: {session_ttl: 10s}\n" + base, "ui.session_ttl: must be from 1m to 720h0m0s (got 10s)"},
		{"session zero", "ui: {session_ttl: 0s}\n" + base, "ui.session_ttl: must be from 1m to 720h0m0s (got 0s)"},
		{"unknown key", "ui: {password: x}\n" + base, "ui.password: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := write(t, map[string]string{"settings.yaml": tt.yaml, "short": "0123456789ab\n"})
			_, err := settings.Load(filepath.Join(dir, "settings.yaml"), nil)
			assertErr(t, err, []string{tt.want})
			if err != nil && strings.Contains(err.Error(), "0123456789ab") {
				t.Errorf("error shows the password:\n%v", err)
			}
		})
	}
}
