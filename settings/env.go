package settings

import (
	"slices"
	"strings"
)

// envDelim separates key path segments in a variable name:
// WH_GITD_REPOS__SITE__SECRET is repos.site.secret.
const envDelim = "__"

// envOverlay turns WH_GITD_* variable names into key paths. Variable names
// are upper-case and cannot hold - or ., so each segment is matched, ignoring
// case, against the keys the file already has, counting any character a
// variable name cannot hold as _ (MY_SITE finds my-site). Without this an
// override would create a second entry differing only in case. A segment
// that matches nothing becomes a lower-case key, except the names of a
// target's env, which keep their case.
type envOverlay struct {
	file     map[string]any
	problems problems
	// origin maps a key path set from the environment to its variable.
	origin map[string]string
}

func newEnvOverlay(file map[string]any) *envOverlay {
	return &envOverlay{file: file, origin: map[string]string{}}
}

// transform is the env provider's TransformFunc: it returns the key path
// joined by envDelim, or "" to skip a variable it reported as a problem.
func (o *envOverlay) transform(name, value string) (string, any) {
	path, msg := o.resolve(strings.TrimPrefix(name, EnvPrefix))
	if msg != "" {
		o.problems.add(name, "%s", msg)
		return "", nil
	}
	o.origin[strings.Join(path, ".")] = name
	return strings.Join(path, envDelim), value
}

func (o *envOverlay) resolve(rest string) ([]string, string) {
	segs := strings.Split(rest, envDelim)
	path := make([]string, 0, len(segs))
	var node any = o.file
	for _, seg := range segs {
		if seg == "" {
			return nil, "has an empty key segment (use " + envDelim + " only between keys)"
		}
		m, _ := node.(map[string]any)
		key, msg := matchKey(m, seg, path)
		if msg != "" {
			return nil, msg
		}
		path = append(path, key)
		node = m[key]
	}
	if !slices.Equal(strings.Split(strings.Join(path, envDelim), envDelim), path) {
		return nil, "names a key that cannot be set from the environment"
	}
	return path, ""
}

// matchKey finds the key of m that seg names.
func matchKey(m map[string]any, seg string, parent []string) (string, string) {
	want := envName(seg)
	var found []string
	for k := range m {
		if envName(k) == want {
			found = append(found, k)
		}
	}
	switch len(found) {
	case 1:
		return found[0], ""
	case 0:
		if isTargetEnv(parent) {
			return seg, ""
		}
		return strings.ToLower(seg), ""
	}
	slices.Sort(found)
	prefix := strings.Join(parent, ".")
	if prefix != "" {
		prefix += "."
	}
	return "", "matches more than one key: " + prefix + strings.Join(found, ", "+prefix)
}

// envName is k as it would be spelt in a variable name.
func envName(k string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			return r
		}
		return '_'
	}, k)
}

// isTargetEnv reports whether path is repos.X.branches|environments.Y.env.
func isTargetEnv(path []string) bool {
	return len(path) == 5 && path[0] == "repos" &&
		(path[2] == "branches" || path[2] == "environments") && path[4] == "env"
}
