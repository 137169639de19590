package receiver

import (
	"crypto/tls"
	"errors"
	"fmt"
	stdlog "log"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/settings"
)

// NewServerFor is NewServer with the listener settings of s (the address
// and the read timeouts of http:) whose own error lines (failed TLS
// handshakes, malformed requests) go to log, rate-limited like refusals, so
// that a stranger's garbage cannot flood the log. TLS is added by the caller
// (see Certificate).
func NewServerFor(s *settings.Settings, handler http.Handler, log zerolog.Logger) *http.Server {
	srv := NewServer(s.Listen, handler)
	srv.ErrorLog = stdlog.New(&serverLog{limit: newRefusalLog(log), log: log}, "", 0)
	if s.HTTP.ReadHeaderTimeout > 0 {
		srv.ReadHeaderTimeout = s.HTTP.ReadHeaderTimeout
	}
	if s.HTTP.ReadTimeout > 0 {
		srv.ReadTimeout = s.HTTP.ReadTimeout
	}
	return srv
}

// Certificate serves the TLS certificate of the settings and loads it again
// when the settings are reloaded, so a renewed certificate needs no restart:
// connections made after the reload get the new one.
type Certificate struct {
	cur atomic.Pointer[tls.Certificate]
	log zerolog.Logger
}

// LoadCertificate reads the key pair of t.
func LoadCertificate(t settings.TLS, log zerolog.Logger) (*Certificate, error) {
	c := &Certificate{log: log}
	if err := c.load(t); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Certificate) load(t settings.TLS) error {
	if !t.Enabled() {
		return errors.New("load tls certificate: tls.cert_file and tls.key_file are not set")
	}
	pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return fmt.Errorf("load tls certificate %s: %w", t.CertFile, err)
	}
	c.cur.Store(&pair)
	return nil
}

// SetSettings reads the key pair of s again. A pair that does not load keeps
// the certificate in use, and the log says why.
func (c *Certificate) SetSettings(s *settings.Settings) {
	if err := c.load(s.TLS); err != nil {
		c.log.Error().Err(err).Msg("tls certificate not reloaded: keeping the one in use")
		return
	}
	c.log.Info().Str("cert_file", s.TLS.CertFile).Msg("tls certificate reloaded")
}

// TLSConfig is the server configuration that serves the current certificate.
func (c *Certificate) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.cur.Load(), nil
		},
	}
}

// serverLog turns the http.Server's error lines into rate-limited warnings.
type serverLog struct {
	limit *refusalLog
	log   zerolog.Logger
}

// serverLogKey is the refusal key of the server's own error lines.
const serverLogKey = "(http server)"

func (l *serverLog) Write(p []byte) (int, error) {
	if l.limit.admit(serverLogKey) {
		l.log.Warn().Str("error", strings.TrimSpace(string(p))).Msg("http server")
	}
	return len(p), nil
}
