package main

import (
	"strings"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/cmd/internal/cli"
	"github.com/wh-gitd/wh-gitd/settings"
)

// settable is a part that takes new settings on reload.
type settable interface{ SetSettings(*settings.Settings) }

// reload reads the settings file again. A file that does not load keeps the
// old settings, and the log says why; a good one replaces them in every part,
// and the log names each changed key that only a restart applies. It returns
// the settings now in force.
func reload(log zerolog.Logger, path string, old *settings.Settings, parts ...settable) *settings.Settings {
	next, err := cli.LoadSettings(path)
	if err != nil {
		log.Error().Err(err).Msg("reload refused: keeping the old settings")
		return old
	}
	for _, p := range parts {
		p.SetSettings(next)
	}
	if keys := restartKeys(old, next); len(keys) > 0 {
		log.Warn().Strs("keys", keys).Int("repos", len(next.Repos)).
			Msg("settings reloaded; a restart is needed to apply: " + strings.Join(keys, ", "))
	} else {
		log.Info().Int("repos", len(next.Repos)).Msg("settings reloaded")
	}
	return next
}

// restartKeys lists the keys that differ between old and next and that the
// daemon reads only at start: the listener and its timeouts, whether it
// serves TLS (a new key pair is read on reload), the state dir, the worker
// pool's size and queue, and the log's level and format.
func restartKeys(old, next *settings.Settings) []string {
	var keys []string
	add := func(key string, changed bool) {
		if changed {
			keys = append(keys, key)
		}
	}
	add("listen", old.Listen != next.Listen)
	add("state_dir", old.StateDir != next.StateDir)
	add("workers", old.Workers != next.Workers)
	add("queue_size", old.QueueSize != next.QueueSize)
	add("http.read_header_timeout", old.HTTP.ReadHeaderTimeout != next.HTTP.ReadHeaderTimeout)
	add("http.read_timeout", old.HTTP.ReadTimeout != next.HTTP.ReadTimeout)
	if old.TLS.Enabled() != next.TLS.Enabled() {
		add("tls.cert_file", old.TLS.CertFile != next.TLS.CertFile)
		add("tls.key_file", old.TLS.KeyFile != next.TLS.KeyFile)
	}
	add("log.level", old.Log.Level != next.Log.Level)
	add("log.format", old.Log.Format != next.Log.Format)
	return keys
}
