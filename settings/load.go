package settings

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// maxSecretFile bounds what Load reads from a secret_file.
const maxSecretFile = 64 << 10

// Load reads the settings file at path, applies the WH_GITD_* overrides found
// in environ (os.Environ() in production), fills in defaults, resolves
// relative paths against the folder of the file, reads secret files and
// validates the result. It reports every problem at once, one per line, as
// "key.path: message (got value)"; the value of a secret is never shown.
// Load creates and writes nothing.
func Load(path string, environ []string) (*Settings, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("read settings: %w", err)
	}
	ko := koanf.New(".")
	if err := ko.Load(file.Provider(abs), yaml.Parser()); err != nil {
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			return nil, fmt.Errorf("read settings: %w", err)
		}
		return nil, fmt.Errorf("parse settings %s: %w", abs, err)
	}
	overlay := newEnvOverlay(ko.Raw())
	if err := ko.Load(env.Provider(envDelim, env.Opt{
		Prefix:        EnvPrefix,
		TransformFunc: overlay.transform,
		EnvironFunc:   func() []string { return environ },
	}), nil); err != nil {
		return nil, fmt.Errorf("read environment: %w", err)
	}
	if err := ko.Load(mapProvider(defaultsFor(ko.Raw())), nil); err != nil {
		return nil, fmt.Errorf("apply defaults: %w", err)
	}

	s, decoded := decode(ko)
	s.File = abs
	s.resolvePaths()
	s.applyDerived()
	ps := append(overlay.problems, decoded...)
	ps = append(ps, s.readSecrets()...)
	ps = append(ps, s.check().outside(decoded)...)
	if err := ps.err(overlay.origin); err != nil {
		return nil, fmt.Errorf("invalid settings %s:\n%w", abs, err)
	}
	return s, nil
}

// mapProvider hands an already nested map to koanf.
type mapProvider map[string]any

func (m mapProvider) Read() (map[string]any, error) { return m, nil }

func (m mapProvider) ReadBytes() ([]byte, error) {
	return nil, errors.New("map provider does not support ReadBytes")
}

// Defaults for keys that are absent (or null) in the file and the environment.
// A key that is present keeps its value, so depth: 0 means full history and
// timeout: 0s is reported rather than replaced.
var (
	daemonDefaults = map[string]any{
		"listen":         "127.0.0.1:9000",
		"workers":        2,
		"queue_size":     256,
		"max_attempts":   3,
		"max_body_bytes": 25 << 20,
		"shutdown_grace": "30s",
		"kill_grace":     "10s",
	}
	logDefaults    = map[string]any{"level": "info", "format": "json"}
	repoDefaults   = map[string]any{"depth": 1, "git_timeout": "5m", "deploy_on": []any{"success"}}
	targetDefaults = map[string]any{"workdir": ".", "timeout": "10m"}
)

// defaultsFor returns the defaults missing from raw, as a nested map to merge
// under it. Values of the wrong shape are left alone for the decoder to report.
func defaultsFor(raw map[string]any) map[string]any {
	out := missing(raw, daemonDefaults)
	if l := missing(raw["log"], logDefaults); len(l) > 0 {
		out["log"] = l
	}
	if h := missing(raw["http"], httpDefaults); len(h) > 0 {
		out["http"] = h
	}
	if r := missing(raw["report"], reportDefaults); len(r) > 0 {
		out["report"] = r
	}
	if u := missing(raw["ui"], uiDefaults); len(u) > 0 {
		out["ui"] = u
	}
	repos, _ := raw["repos"].(map[string]any)
	rd := map[string]any{}
	for name, v := range repos {
		r := missing(v, repoDefaults)
		if r == nil {
			continue
		}
		entry, _ := v.(map[string]any)
		for _, kind := range []string{"branches", "environments"} {
			targets, _ := entry[kind].(map[string]any)
			td := map[string]any{}
			for tn, tv := range targets {
				if t := missing(tv, targetDefaults); len(t) > 0 {
					td[tn] = t
				}
			}
			if len(td) > 0 {
				r[kind] = td
			}
		}
		rd[name] = r
	}
	if len(rd) > 0 {
		out["repos"] = rd
	}
	return out
}

// missing returns the entries of defs whose key is absent or null in v, or
// nil when v is neither a map nor null.
func missing(v any, defs map[string]any) map[string]any {
	m, ok := v.(map[string]any)
	if !ok && v != nil {
		return nil
	}
	out := map[string]any{}
	for k, d := range defs {
		if m[k] == nil {
			out[k] = d
		}
	}
	return out
}

// resolvePaths makes relative paths absolute against the settings folder.
func (s *Settings) resolvePaths() {
	dir := filepath.Dir(s.File)
	s.StateDir = resolve(dir, s.StateDir)
	s.resolveNetworkPaths()
	s.API.TokenFile = resolve(dir, s.API.TokenFile)
	s.resolveReportPaths()
	s.UI.PasswordFile = resolve(dir, s.UI.PasswordFile)
	s.Metrics.TokenFile = resolve(dir, s.Metrics.TokenFile)
	for _, r := range s.Repos {
		if r == nil {
			continue
		}
		r.Path = resolve(dir, r.Path)
		for _, t := range targetList("", r) {
			t.Path = resolve(dir, t.Path)
		}
		r.SecretFile = resolve(dir, r.SecretFile)
		r.Auth.SSHKeyFile = resolve(dir, r.Auth.SSHKeyFile)
		r.Auth.KnownHostsFile = resolve(dir, r.Auth.KnownHostsFile)
		r.Auth.TokenFile = resolve(dir, r.Auth.TokenFile)
		if isRelativeLocal(r.Remote) {
			r.Remote = filepath.Join(dir, r.Remote)
		}
	}
}

func resolve(dir, p string) string {
	if p == "" {
		return ""
	}
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

func isRelativeLocal(remote string) bool {
	return remote == "." || remote == ".." ||
		strings.HasPrefix(remote, "./") || strings.HasPrefix(remote, "../")
}

// applyDerived sets the values that follow from others: entry names and the
// token username of each provider.
func (s *Settings) applyDerived() {
	s.applyJobDefaults()
	s.applyReportDefaults()
	for name, r := range s.Repos {
		if r == nil {
			continue
		}
		r.Name = name
		if r.Auth.TokenFile != "" && r.Auth.Username == "" {
			r.Auth.Username = defaultUsername(r.Provider)
		}
	}
}

func defaultUsername(provider string) string {
	switch provider {
	case GitHub, Gogs, Gitea, Forgejo:
		return "x-access-token"
	case GitLab:
		return "oauth2"
	}
	return ""
}

// readSecrets fills Secret from SecretFile. A file that cannot be read or is
// empty leaves Secret empty for Validate to report.
func (s *Settings) readSecrets() problems {
	var ps problems
	s.readAPIToken(&ps)
	s.readReportSecrets(&ps)
	s.readUIPassword(&ps)
	s.readMetricsToken(&ps)
	for _, name := range s.RepoNames() {
		r := s.Repos[name]
		if r == nil || r.SecretFile == "" {
			continue
		}
		if r.Secret != "" {
			ps.add("repos."+name+".secret_file", "set secret or secret_file, not both")
			continue
		}
		if secret, err := readSecretFile(r.SecretFile); err == nil {
			r.Secret = secret
		}
	}
	return ps
}

func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxSecretFile {
		return "", errors.New("larger than 64 KiB")
	}
	return strings.TrimRightFunc(string(b), unicode.IsSpace), nil
}
