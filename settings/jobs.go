package settings

import "time"

// Defaults of the job history of each entry.
const (
	DefaultHistoryKeep   = 100
	DefaultHistoryMaxAge = 30 * 24 * time.Hour
)

// applyJobDefaults fills the history bounds left at zero.
func (s *Settings) applyJobDefaults() {
	for _, r := range s.Repos {
		if r == nil {
			continue
		}
		if r.History.Keep == 0 {
			r.History.Keep = DefaultHistoryKeep
		}
		if r.History.MaxAge == 0 {
			r.History.MaxAge = DefaultHistoryMaxAge
		}
	}
}

// readAPIToken fills API.Token from API.TokenFile.
func (s *Settings) readAPIToken(ps *problems) {
	if s.API.TokenFile == "" {
		return
	}
	if s.API.Token != "" {
		ps.add("api.token_file", "set token or token_file, not both")
		return
	}
	token, err := readSecretFile(s.API.TokenFile)
	switch {
	case err != nil:
		ps.add("api.token_file", "cannot be read: %s (got %q)", reason(err), s.API.TokenFile)
	case token == "":
		ps.add("api.token_file", "is empty (got %q)", s.API.TokenFile)
	default:
		s.API.Token = token
	}
}

// checkJobs validates the keys of the job store and API.
func (s *Settings) checkJobs(ps *problems) {
	switch {
	case s.API.Token == "" || len(s.API.Token) >= minSecret:
	case s.API.TokenFile != "":
		ps.add("api.token_file", "must hold a token of at least %d characters; %s (got %d characters in %q)",
			minSecret, secretHint, len(s.API.Token), s.API.TokenFile)
	default:
		ps.add("api.token", "must be at least %d characters; %s (got %d characters)", minSecret, secretHint, len(s.API.Token))
	}
	for _, name := range s.RepoNames() {
		r := s.Repos[name]
		if r == nil {
			continue
		}
		p := "repos." + name
		atLeast(ps, p+".history.keep", r.History.Keep, 1)
		positive(ps, p+".history.max_age", r.History.MaxAge)
		if r.Poll < 0 || (r.Poll > 0 && r.Poll < time.Second) {
			ps.add(p+".poll", "must be 0 (off) or at least 1s (got %s)", r.Poll)
		}
		switch {
		case r.MaxDeliveryAge < 0 || (r.MaxDeliveryAge > 0 && r.MaxDeliveryAge < time.Minute):
			ps.add(p+".max_delivery_age", "must be 0 (off) or at least 1m, for clock skew and delivery delay (got %s)",
				r.MaxDeliveryAge)
		case r.MaxDeliveryAge > 0 && r.Provider != GitHub:
			ps.add(p+".max_delivery_age", "only GitHub deliveries carry a signed time; not available for %s (got %s)",
				r.Provider, r.MaxDeliveryAge)
		}
	}
}
