package main

import (
	"net"
	"net/http"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/cmd/internal/cli"
	"github.com/wh-gitd/wh-gitd/receiver"
	"github.com/wh-gitd/wh-gitd/settings"
)

// loadCertificate reads the TLS key pair the settings name; nil without TLS.
func loadCertificate(set *settings.Settings, log zerolog.Logger) (*receiver.Certificate, error) {
	if !set.TLS.Enabled() {
		return nil, nil
	}
	cert, err := receiver.LoadCertificate(set.TLS, log)
	if err != nil {
		return nil, &cli.UsageError{Err: err, Hint: "tls.cert_file and tls.key_file must be a PEM certificate and its key"}
	}
	return cert, nil
}

// serve starts the HTTP server on ln, over TLS when cert is not nil, and
// returns it and the channel its Serve error arrives on.
func serve(set *settings.Settings, h http.Handler, ln net.Listener, cert *receiver.Certificate,
	log zerolog.Logger) (*http.Server, <-chan error) {
	srv := receiver.NewServerFor(set, h, log)
	served := make(chan error, 1)
	if cert == nil {
		go func() { served <- srv.Serve(ln) }()
		return srv, served
	}
	srv.TLSConfig = cert.TLSConfig()
	go func() { served <- srv.ServeTLS(ln, "", "") }()
	return srv, served
}

// reloadParts lists what takes new settings on SIGHUP: the certificate (read
// again from its files) when there is one, and the given parts.
func reloadParts(cert *receiver.Certificate, parts ...settable) []settable {
	if cert != nil {
		parts = append(parts, cert)
	}
	return parts
}
