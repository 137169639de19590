package ui

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"sync"
	"time"
)

// Bounds of the sessions and of the login attempts.
const (
	// maxSessions bounds the sessions kept; a new one past it ends the one
	// closest to expiring.
	maxSessions = 64
	// loginFailures wrong logins from one address within loginWindow make
	// the next attempts from it wait until the window has passed.
	loginFailures = 5
	loginWindow   = time.Minute
	// maxStrikes bounds the addresses whose failures are counted.
	maxStrikes = 4096
)

// session is one login: a random id (the cookie), a random CSRF token for
// its forms, and a label that names it in job records and the log.
type session struct {
	id, csrf, label string
	expires         time.Time
	// cred is the hash of the secret the session logged in with: when the
	// settings no longer hold that secret, the session has ended.
	cred [32]byte
}

// sessions holds the logins, server-side, bounded.
type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	max int
}

func newSessions(max int) *sessions { return &sessions{m: make(map[string]*session), max: max} }

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// credential is what a session remembers of the secret it logged in with.
func credential(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// create starts a session of ttl for the secret hashed as cred.
func (s *sessions) create(ttl time.Duration, cred [32]byte, now time.Time) *session {
	se := &session{id: randomHex(32), csrf: randomHex(32), label: "page session " + randomHex(4),
		expires: now.Add(ttl), cred: cred}
	s.mu.Lock()
	defer s.mu.Unlock()
	var soonest *session
	for id, old := range s.m {
		if !now.Before(old.expires) {
			delete(s.m, id)
		} else if soonest == nil || old.expires.Before(soonest.expires) {
			soonest = old
		}
	}
	if len(s.m) >= s.max && soonest != nil {
		delete(s.m, soonest.id)
	}
	s.m[se.id] = se
	return se
}

// get returns the live session of id made with the secret hashed as cred,
// or nil.
func (s *sessions) get(id string, cred [32]byte, now time.Time) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.m[id]
	switch {
	case !ok:
		return nil
	case !now.Before(se.expires) || subtle.ConstantTimeCompare(se.cred[:], cred[:]) != 1:
		delete(s.m, id)
		return nil
	}
	return se
}

// end ends the session of id.
func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// limiter counts failures by key (a client address) in fixed windows.
type limiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	m      map[string]*strikes
}

type strikes struct {
	n     int
	since time.Time
}

func newLimiter(max int, window time.Duration) *limiter {
	return &limiter{max: max, window: window, m: make(map[string]*strikes)}
}

// wait returns how long key must wait before its next attempt; 0 if none.
func (l *limiter) wait(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return max(l.waitOf(key, now), l.waitOf("*", now))
}

func (l *limiter) waitOf(key string, now time.Time) time.Duration {
	s, ok := l.m[key]
	if !ok || s.n < l.max || now.Sub(s.since) >= l.window {
		return 0
	}
	return s.since.Add(l.window).Sub(now)
}

// fail counts a failure of key.
func (l *limiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.m[key]
	if ok && now.Sub(s.since) < l.window {
		s.n++
		return
	}
	if len(l.m) >= maxStrikes {
		for k, old := range l.m {
			if now.Sub(old.since) >= l.window {
				delete(l.m, k)
			}
		}
	}
	if len(l.m) >= maxStrikes {
		// Past the bound every address shares one count, so that many
		// addresses cannot try more often than one could.
		key = "*"
		if s, ok := l.m[key]; ok && now.Sub(s.since) < l.window {
			s.n++
			return
		}
	}
	l.m[key] = &strikes{n: 1, since: now}
}
