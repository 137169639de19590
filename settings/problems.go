package settings

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// problem is one thing wrong with the settings, at one key path.
type problem struct {
	path string
	msg  string
}

type problems []problem

func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, problem{path: path, msg: fmt.Sprintf(format, args...)})
}

// outside drops the problems at or below a path already in others, so a value
// the decoder refused is not reported a second time by validation.
func (ps problems) outside(others problems) problems {
	var out problems
	for _, p := range ps {
		if !slices.ContainsFunc(others, func(o problem) bool { return under(p.path, o.path) }) {
			out = append(out, p)
		}
	}
	return out
}

func under(path, parent string) bool {
	return parent != "" && (path == parent ||
		strings.HasPrefix(path, parent+".") || strings.HasPrefix(path, parent+"["))
}

// err joins the problems sorted by path, one line each. origin names the
// variable that set a path from the environment.
func (ps problems) err(origin map[string]string) error {
	sorted := slices.Clone(ps)
	slices.SortStableFunc(sorted, func(a, b problem) int { return strings.Compare(a.path, b.path) })
	errs := make([]error, 0, len(sorted))
	for i, p := range sorted {
		if i > 0 && p == sorted[i-1] {
			continue
		}
		line := p.msg
		if p.path != "" {
			line = p.path + ": " + p.msg
		}
		if name, ok := origin[p.path]; ok {
			line += " (set by " + name + ")"
		}
		errs = append(errs, errors.New(line))
	}
	return errors.Join(errs...)
}
