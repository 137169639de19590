package settings

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
)

// namedTarget is one branch or environment of an entry, named by its key path.
type namedTarget struct {
	*Target
	key string // repos.E.branches.B or repos.E.environments.E
	// branch is what the target deploys: a branch's key, an environment's
	// branch; "" for an environment without one, which may deploy any ref.
	branch string
}

// targetList returns the targets of entry p (its key path) that are set,
// branches then environments, each sorted by name.
func targetList(p string, r *Repo) []namedTarget {
	var out []namedTarget
	for _, name := range slices.Sorted(maps.Keys(r.Branches)) {
		if t := r.Branches[name]; t != nil {
			out = append(out, namedTarget{t, p + ".branches." + name, name})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(r.Environments)) {
		if t := r.Environments[name]; t != nil {
			out = append(out, namedTarget{t, p + ".environments." + name, t.Branch})
		}
	}
	return out
}

// needsEntryPath reports whether some target of r deploys into the entry's
// path, or r has no target at all.
func needsEntryPath(r *Repo) bool {
	ts := targetList("", r)
	for _, t := range ts {
		if t.Path == "" {
			return true
		}
	}
	return len(ts) == 0
}

// pathProblem checks a working copy's folder as Validate sees it.
func pathProblem(path string) string {
	switch {
	case !filepath.IsAbs(path):
		return "must be absolute"
	case !isDir(filepath.Dir(path)):
		return "parent folder " + filepath.Dir(path) + " does not exist"
	}
	return ""
}

// folder is one working copy: a folder some target deploys into.
type folder struct {
	path  string
	key   string // the key that sets it: repos.E.path or a target's path
	label string // how messages name it: repos.E or the target's key
}

// folders returns the distinct working copies of the entry's targets.
func folders(p string, ts []namedTarget, r *Repo) []folder {
	var out []folder
	seen := map[string]bool{}
	for _, t := range ts {
		f := folder{path: t.Path, key: t.key + ".path", label: t.key}
		if t.Path == "" {
			f = folder{path: r.Path, key: p + ".path", label: p}
		}
		if f.path != "" && !seen[f.path] {
			seen[f.path] = true
			out = append(out, f)
		}
	}
	return out
}

// checkOverlaps reports working copies, of any entry, that are the same
// folder in two entries, one inside another, or overlap the state folder,
// and targets of one entry that share a folder but deploy different branches.
func (s *Settings) checkOverlaps(ps *problems, names []string) {
	var all []folder
	for _, name := range names {
		r := s.Repos[name]
		if r == nil {
			continue
		}
		ts := targetList("repos."+name, r)
		if !r.SharedPath {
			checkShared(ps, ts, r)
		}
		all = append(all, folders("repos."+name, ts, r)...)
	}
	for i, a := range all {
		if s.StateDir != "" && (within(s.StateDir, a.path) || within(a.path, s.StateDir)) {
			ps.add(a.key, "overlaps state_dir %s (got %q)", s.StateDir, a.path)
		}
		for _, b := range all[i+1:] {
			switch {
			case a.path == b.path:
				ps.add(b.key, "same working copy as %s (got %q)", a.label, b.path)
			case within(a.path, b.path):
				ps.add(b.key, "inside the working copy of %s (got %q)", a.label, b.path)
			case within(b.path, a.path):
				ps.add(a.key, "inside the working copy of %s (got %q)", b.label, a.path)
			}
		}
	}
}

// checkShared reports each target whose working copy an earlier target of
// the same entry deploys another branch into: each sync would move the
// other's files to its own branch.
func checkShared(ps *problems, ts []namedTarget, r *Repo) {
	for j, t := range ts {
		wc := r.WorkingCopy(t.Target)
		for _, o := range ts[:j] {
			if wc == "" || wc != r.WorkingCopy(o.Target) || (t.branch != "" && t.branch == o.branch) {
				continue
			}
			ps.add(t.key+".path", "same working copy as %s, which deploys %s while this deploys %s: "+
				"give each its own path: (or set shared_path: true on the entry to let them take turns) (got %q)",
				o.key, deploys(o), deploys(t), wc)
			break
		}
	}
}

// deploys words what a target deploys, for checkShared's message.
func deploys(t namedTarget) string {
	if t.branch == "" {
		return "any ref a deployment names (no branch: set)"
	}
	return "branch " + t.branch
}

// within reports whether child is parent or lies below it.
func within(parent, child string) bool {
	rel, err := filepath.Rel(parent, child)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
