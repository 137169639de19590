package settings

// Metrics guards GET /metrics on the listener. It is served when a token or
// an allow list is set (both: both are required), and answers 404 otherwise.
type Metrics struct {
	// Token is the bearer token a scraper sends; Load fills it from
	// TokenFile. Never log it.
	Token string `koanf:"token"`
	// TokenFile is an absolute path to a file holding the token.
	TokenFile string `koanf:"token_file"`
	// Allow lists the networks that may scrape; the client address is told
	// as for deliveries (trusted_proxies).
	Allow []CIDR `koanf:"allow"`
}

// Enabled reports whether /metrics is served.
func (m Metrics) Enabled() bool { return m.Token != "" || len(m.Allow) > 0 }

// readMetricsToken fills Metrics.Token from Metrics.TokenFile.
func (s *Settings) readMetricsToken(ps *problems) {
	m := &s.Metrics
	if m.TokenFile == "" {
		return
	}
	if m.Token != "" {
		ps.add("metrics.token_file", "set token or token_file, not both")
		return
	}
	token, err := readSecretFile(m.TokenFile)
	switch {
	case err != nil:
		ps.add("metrics.token_file", "cannot be read: %s (got %q)", reason(err), m.TokenFile)
	case token == "":
		ps.add("metrics.token_file", "is empty (got %q)", m.TokenFile)
	default:
		m.Token = token
	}
}

// checkMetrics validates the metrics keys.
func (s *Settings) checkMetrics(ps *problems) {
	m := s.Metrics
	switch {
	case m.Token == "" || len(m.Token) >= minSecret:
	case m.TokenFile != "":
		ps.add("metrics.token_file", "must hold a token of at least %d characters; %s (got %d characters in %q)",
			minSecret, secretHint, len(m.Token), m.TokenFile)
	default:
		ps.add("metrics.token", "must be at least %d characters; %s (got %d characters)", minSecret, secretHint, len(m.Token))
	}
	checkCIDRs(ps, "metrics.allow", m.Allow)
}
