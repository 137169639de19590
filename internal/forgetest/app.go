package forgetest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// App is a GitHub App installation the GitHub server mints tokens for:
// it checks each JWT with the App's public key as GitHub does.
type App struct {
	ID, Installation int64
	// KeyFile is the App's private key as a PEM file.
	KeyFile string
	key     *rsa.PrivateKey

	mu     sync.Mutex
	tokens map[string]time.Time // token → expiry
	minted int
}

// NewApp makes an App with a new key, written to a file in a temporary
// folder, whose tokens s accepts.
func (s *Server) NewApp(t testing.TB, id, installation int64) *App {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	file := filepath.Join(t.TempDir(), "app.pem")
	if err := writeFile(file, pemBytes); err != nil {
		t.Fatal(err)
	}
	s.app = &App{ID: id, Installation: installation, KeyFile: file, key: key, tokens: map[string]time.Time{}}
	return s.app
}

// Minted is how many installation tokens were handed out.
func (a *App) Minted() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.minted
}

// Expire makes every token handed out so far expired, as an hour does.
func (a *App) Expire() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k := range a.tokens {
		a.tokens[k] = time.Now().Add(-time.Second)
	}
}

// Live reports whether token was handed out and has not expired.
func (a *App) Live(token string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	exp, ok := a.tokens[token]
	return ok && time.Now().Before(exp)
}

func (a *App) issued(token string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.tokens[token]
	return ok
}

// serve answers POST /app/installations/{id}/access_tokens.
func (a *App) serve(c *Call, r *http.Request) Answer {
	want := fmt.Sprintf("/app/installations/%d/access_tokens", a.Installation)
	if c.Method != http.MethodPost || c.Path != want {
		return refuse(c, http.StatusNotFound, "no such route (want POST %s)", want)
	}
	if v := c.Header.Get("Accept"); v != "application/vnd.github+json" {
		return refuse(c, http.StatusUnsupportedMediaType, "Accept must be application/vnd.github+json (got %q)", v)
	}
	signed, ok := strings.CutPrefix(c.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return refuse(c, http.StatusUnauthorized, "Authorization must be Bearer and the App's JWT")
	}
	if msg := a.checkJWT(signed); msg != "" {
		return refuse(c, http.StatusUnauthorized, "%s", msg)
	}
	b := make([]byte, 20)
	rand.Read(b)
	token := "ghs_" + hex.EncodeToString(b)
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	a.mu.Lock()
	a.tokens[token] = exp
	a.minted++
	a.mu.Unlock()
	body, _ := json.Marshal(map[string]any{"token": token, "expires_at": exp.Format(time.RFC3339)})
	return Answer{Code: http.StatusCreated, Body: string(body)}
}

// checkJWT verifies the App's JWT as GitHub does: RS256 by the App's key,
// iss the App's id, iat in the past, exp at most ten minutes ahead.
func (a *App) checkJWT(signed string) string {
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(signed, &claims, func(*jwt.Token) (any, error) { return &a.key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuedAt(), jwt.WithExpirationRequired(),
		jwt.WithIssuer(strconv.FormatInt(a.ID, 10)))
	switch {
	case err != nil:
		return "JWT refused: " + err.Error()
	case claims.IssuedAt == nil:
		return "JWT has no iat"
	case time.Until(claims.ExpiresAt.Time) > 10*time.Minute:
		return "JWT exp is more than ten minutes in the future"
	}
	return ""
}
