package cli

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/wh-gitd/wh-gitd/settings"
)

// The console format writes colour codes to a terminal only: a pipe (a
// service manager, a log file, less) gets plain text.
func TestConsoleLogToAPipeHasNoColour(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	log := Logger(settings.Log{Format: "console", Level: "info"}, w)
	log.Warn().Str("repo", "site").Msg("settings reloaded")
	w.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte("settings reloaded")) || bytes.Contains(out, []byte("\x1b")) {
		t.Errorf("console log to a pipe: %q, want the message and no escape codes", out)
	}
}
