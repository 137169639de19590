// Package cli holds what the two commands share: the exit codes and how an
// error is printed, settings loading with its hint, logger setup, version,
// and flags that may stand before or after the positional arguments.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/settings"
)

// Exit codes of both commands.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// UsageError is a bad command line or bad settings: exit 2.
type UsageError struct {
	Err  error
	Hint string
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Failure is a failure (exit 1) that comes with a hint.
type Failure struct {
	Err  error
	Hint string
}

func (e *Failure) Error() string { return e.Err.Error() }
func (e *Failure) Unwrap() error { return e.Err }

// Usagef makes a UsageError.
func Usagef(hint, format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...), Hint: hint}
}

// Exit prints err as "prog: ..." (and a hint line) on stderr and returns the
// exit code for it. flag.ErrHelp is a success: the usage was asked for.
func Exit(prog string, err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(stderr, "%s: %s\n", prog, line)
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		printHint(stderr, ue.Hint)
		return ExitUsage
	}
	var f *Failure
	if errors.As(err, &f) {
		printHint(stderr, f.Hint)
	}
	return ExitFailure
}

func printHint(stderr io.Writer, hint string) {
	if hint != "" {
		fmt.Fprintf(stderr, "hint: %s\n", hint)
	}
}

// Parse parses flags that may come before, between or after the positional
// arguments, and returns the positional ones.
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &UsageError{Err: err, Hint: "see " + fs.Name() + " --help"}
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// Version is the module version the binary was built from.
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// LoadSettings loads a settings file; every problem is a UsageError.
func LoadSettings(path string) (*settings.Settings, error) {
	s, err := settings.Load(path, os.Environ())
	if err != nil {
		return nil, &UsageError{Err: err, Hint: "settings.example.yaml documents every key"}
	}
	return s, nil
}

// Logger makes the zerolog logger the settings ask for, writing to w.
func Logger(l settings.Log, w io.Writer) zerolog.Logger {
	if l.Format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000", NoColor: !terminal(w)}
	}
	level, err := zerolog.ParseLevel(l.Level)
	if err != nil || level == zerolog.NoLevel { // "" parses as NoLevel: silence
		level = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// terminal reports whether w is a terminal, the one place colour codes
// belong: a pipe, a file or the journal gets plain text.
func terminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
