package receiver

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/rs/zerolog"
)

// A delivery's lines are what a logger made With its fields writes, byte
// for byte; lines below the level are not written.
func TestDeliveryLogAsWith(t *testing.T) {
	client := netip.MustParseAddr("192.0.2.7")
	for _, level := range []zerolog.Level{zerolog.InfoLevel, zerolog.WarnLevel} {
		var got, want bytes.Buffer
		base := func(buf *bytes.Buffer) zerolog.Logger {
			return zerolog.New(buf).Level(level).With().Str("component", "receiver").Logger()
		}
		d := newDeliveryLog(base(&got))
		d.str("remote_addr", "192.0.2.7:5555")
		d.addr("client", client)
		d.Info().Str("reason", "r").Msg("before repo")
		d.str("repo", "site")
		d.addr("none", netip.Addr{})
		d.str("delivery", "")
		d.Warn().Int("status", 401).Msg("refused")
		d.Error().Msg("failed")
		d.Info().Msg("ignored")

		l := base(&want).With().Str("remote_addr", "192.0.2.7:5555").Str("client", client.String()).Logger()
		l.Info().Str("reason", "r").Msg("before repo")
		l = l.With().Str("repo", "site").Str("none", netip.Addr{}.String()).Str("delivery", "").Logger()
		l.Warn().Int("status", 401).Msg("refused")
		l.Error().Msg("failed")
		l.Info().Msg("ignored")
		if got.String() != want.String() {
			t.Errorf("at %s:\n%s\nwant\n%s", level, got.String(), want.String())
		}
	}
}
