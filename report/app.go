package report

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// An installation token is renewed this long before it expires.
const renewBefore = 5 * time.Minute

// appTokens mints and caches GitHub App installation tokens, one per
// installation: a JWT signed with the App's key (RS256, iat one minute
// back for clock skew, exp nine minutes ahead) buys a token that lasts an
// hour; it is used until a few minutes before it expires, or until GitHub
// refuses it.
type appTokens struct {
	mu     sync.Mutex
	tokens map[string]appToken // by api url and installation
}

type appToken struct {
	token   string
	expires time.Time
}

// app names one installation.
type app struct {
	apiURL         string
	appID          int64
	installationID int64
	key            *rsa.PrivateKey
}

func (a app) cacheKey() string {
	return a.apiURL + " " + strconv.FormatInt(a.appID, 10) + " " + strconv.FormatInt(a.installationID, 10)
}

// token returns a cached token of a, or mints one with do.
func (c *appTokens) token(ctx context.Context, a app, do func(*http.Request) ([]byte, error)) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.tokens[a.cacheKey()]; ok && time.Until(t.expires) > renewBefore {
		return t.token, nil
	}
	t, err := mint(ctx, a, do)
	if err != nil {
		return "", err
	}
	if c.tokens == nil {
		c.tokens = map[string]appToken{}
	}
	c.tokens[a.cacheKey()] = t
	return t.token, nil
}

// forget drops the cached token of a (GitHub refused it).
func (c *appTokens) forget(a app) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.tokens, a.cacheKey())
}

// appJWT is the JWT that authenticates the App itself.
func appJWT(a app, now time.Time) (string, error) {
	claims := jwt.RegisteredClaims{
		Issuer:    strconv.FormatInt(a.appID, 10),
		IssuedAt:  jwt.NewNumericDate(now.Add(-time.Minute)),
		ExpiresAt: jwt.NewNumericDate(now.Add(9 * time.Minute)),
	}
	return jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(a.key)
}

// mint asks GitHub for an installation token.
func mint(ctx context.Context, a app, do func(*http.Request) ([]byte, error)) (appToken, error) {
	signed, err := appJWT(a, time.Now())
	if err != nil {
		return appToken{}, fmt.Errorf("sign app jwt: %w", err)
	}
	u := fmt.Sprintf("%s/app/installations/%d/access_tokens", trimSlash(a.apiURL), a.installationID)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return appToken{}, fmt.Errorf("mint installation token: %w", err)
	}
	githubHeaders(req.Header, signed)
	b, err := do(req)
	var ae *answerError
	if errors.As(err, &ae) {
		ae.msg = "mint installation token: " + ae.msg
		return appToken{}, ae
	}
	if err != nil {
		return appToken{}, fmt.Errorf("mint installation token: %w", err)
	}
	var v struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.Token == "" {
		return appToken{}, fmt.Errorf("mint installation token: answer has no token")
	}
	return appToken{token: v.Token, expires: v.ExpiresAt}, nil
}
