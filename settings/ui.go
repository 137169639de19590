package settings

import "time"

// maxSessionTTL bounds ui.session_ttl.
const maxSessionTTL = 30 * 24 * time.Hour

// uiDefaults are the defaults of ui: for keys absent from the file.
var uiDefaults = map[string]any{"session_ttl": "12h"}

// UI configures the status page (/, /jobs, /jobs/{id}) on the HTTP
// listener. The page is on when api.token is set, and off otherwise.
type UI struct {
	// PasswordFile is an absolute path to a file holding the password that
	// the login form takes instead of the API token. Empty: the form takes
	// the API token.
	PasswordFile string `koanf:"password_file"`
	// Password is the content of PasswordFile, filled by Load. Never log it.
	Password string `koanf:"-"`
	// SessionTTL is how long a login lasts (default 12h).
	SessionTTL time.Duration `koanf:"session_ttl"`
}

// readUIPassword fills UI.Password from UI.PasswordFile.
func (s *Settings) readUIPassword(ps *problems) {
	if s.UI.PasswordFile == "" {
		return
	}
	password, err := readSecretFile(s.UI.PasswordFile)
	switch {
	case err != nil:
		ps.add("ui.password_file", "cannot be read: %s (got %q)", reason(err), s.UI.PasswordFile)
	case len(password) < minSecret:
		ps.add("ui.password_file", "must hold a password of at least %d characters; %s (got %d characters in %q)",
			minSecret, secretHint, len(password), s.UI.PasswordFile)
	default:
		s.UI.Password = password
	}
}

// checkUI validates the keys of ui:.
func (s *Settings) checkUI(ps *problems) {
	if s.UI.SessionTTL < time.Minute || s.UI.SessionTTL > maxSessionTTL {
		ps.add("ui.session_ttl", "must be from 1m to %s (got %s)", maxSessionTTL, s.UI.SessionTTL)
	}
}
