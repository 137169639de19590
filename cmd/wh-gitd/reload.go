package main

import (
	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/cmd/internal/cli"
	"github.com/wh-gitd/wh-gitd/settings"
)

// settable is a part that takes new settings on reload.
type settable interface{ SetSettings(*settings.Settings) }

// reload reads the settings file again. A file that does not load keeps the
// old settings, and the log says why; a good one replaces them in every part.
// It returns the settings now in force.
func reload(log zerolog.Logger, path string, old *settings.Settings, parts ...settable) *settings.Settings {
	next, err := cli.LoadSettings(path)
	if err != nil {
		log.Error().Err(err).Msg("reload refused: keeping the old settings")
		return old
	}
	for key, changed := range map[string]bool{
		"listen":    next.Listen != old.Listen,
		"workers":   next.Workers != old.Workers,
		"state_dir": next.StateDir != old.StateDir,
		"http":      next.HTTP != old.HTTP,
		"tls":       next.TLS.Enabled() != old.TLS.Enabled(),
	} {
		if changed {
			log.Warn().Str("key", key).Msg("reload: this change takes effect at the next restart")
		}
	}
	for _, p := range parts {
		p.SetSettings(next)
	}
	log.Info().Int("repos", len(next.Repos)).Msg("settings reloaded")
	return next
}
