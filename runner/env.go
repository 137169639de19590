package runner

import (
	"strings"

	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/settings"
)

// passEnv is the allow-list of the daemon's own variables a command sees.
// Nothing else of the daemon's environment (where secrets may live) passes.
var passEnv = []string{"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE",
	"LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SSH_AUTH_SOCK"}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// baseEnv picks the allow-listed variables out of environ.
func baseEnv(environ []string) []string {
	var env []string
	hasPath := false
	for _, kv := range environ {
		k, _, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		for _, p := range passEnv {
			if k == p {
				env = append(env, kv)
				hasPath = hasPath || k == "PATH"
			}
		}
	}
	if !hasPath {
		env = append(env, "PATH="+defaultPath)
	}
	return env
}

// commandEnv is a command's whole environment: the allow-list, the target's
// env from the settings, then the WH_* variables describing the job.
func commandEnv(base []string, jb *job.Job, repo *settings.Repo, t *settings.Target, sha, payload string) []string {
	env := append([]string(nil), base...)
	for k, v := range t.Env {
		env = append(env, k+"="+v)
	}
	return append(env,
		"WH_REPO="+jb.Repo,
		"WH_PROVIDER="+repo.Provider,
		"WH_EVENT="+jb.Event,
		"WH_REF="+jb.Ref,
		"WH_BRANCH="+jb.Branch,
		"WH_SHA="+sha,
		"WH_BEFORE="+jb.Before,
		"WH_DELIVERY="+jb.Delivery,
		"WH_JOB="+jb.ID,
		"WH_ENVIRONMENT="+jb.Environment,
		"WH_PAYLOAD="+payload,
	)
}
