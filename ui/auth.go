package ui

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wh-gitd/wh-gitd/settings"
)

// cookieName is the session cookie's name.
const cookieName = "wh_gitd_session"

// maxForm caps the body of a form POST.
const maxForm = 16 << 10

// visitor is who makes a request: a session of the login form, or a
// script with the bearer token (sess nil).
type visitor struct {
	who  string
	sess *session
}

// csrf is the token the visitor's forms carry ("" for the bearer token).
func (v visitor) csrf() string {
	if v.sess == nil {
		return ""
	}
	return v.sess.csrf
}

// guarded is a handler that runs only for a known visitor.
type guarded func(w http.ResponseWriter, r *http.Request, v visitor)

// guard lets only a known visitor through to next: a page asked for
// without a session goes to the login form, anything else gets 401. A POST
// must come from this site (Origin, Sec-Fetch-Site) and, from a session,
// carry the session's CSRF token.
func (h *Handler) guard(next guarded) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, ok := h.identify(r)
		switch {
		case !ok && r.Method == http.MethodGet && wantsPage(r):
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		case !ok:
			w.Header().Set("WWW-Authenticate", `Bearer realm="wh-gitd"`)
			http.Error(w, "log in first, or send Authorization: Bearer <api.token>", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost && !h.trustedPost(w, r, v) {
			return
		}
		next(w, r, v)
	}
}

// wantsPage reports whether r asks for a page rather than a log, a stream
// or an asset.
func wantsPage(r *http.Request) bool {
	p := r.URL.Path
	return !strings.HasPrefix(p, "/assets/") && !strings.HasSuffix(p, "/log") && !strings.HasSuffix(p, "/events")
}

// identify finds the visitor of r: the bearer token, else the session
// cookie.
func (h *Handler) identify(r *http.Request) (visitor, bool) {
	set := h.set.Load()
	if got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return visitor{who: "bearer token"}, equalSecret(got, set.API.Token)
	}
	c, err := r.Cookie(cookieName)
	if err != nil {
		return visitor{}, false
	}
	se := h.sessions.get(c.Value, credential(loginSecret(set)), time.Now())
	if se == nil {
		return visitor{}, false
	}
	return visitor{who: se.label, sess: se}, true
}

// trustedPost checks that a POST comes from this site and, from a session,
// carries its CSRF token; otherwise it answers 403.
func (h *Handler) trustedPost(w http.ResponseWriter, r *http.Request, v visitor) bool {
	if err := h.crossOrigin(r); err != nil {
		h.refuse(w, r, http.StatusForbidden, "refused: "+err.Error())
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if v.sess != nil && !equalSecret(r.PostFormValue("csrf"), v.sess.csrf) {
		h.refuse(w, r, http.StatusForbidden, "refused: the form's token is missing or stale; reload the page and try again")
		return false
	}
	return true
}

// crossOrigin refuses a request a browser sent from another site: its
// Sec-Fetch-Site or Origin names neither this host nor public_url.
func (h *Handler) crossOrigin(r *http.Request) error {
	cop := http.NewCrossOriginProtection()
	if u, err := url.Parse(h.set.Load().PublicURL); err == nil && u.Host != "" {
		_ = cop.AddTrustedOrigin(u.Scheme + "://" + u.Host)
	}
	return cop.Check(r)
}

// equalSecret compares a secret in constant time; an empty want matches
// nothing.
func equalSecret(got, want string) bool {
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return want != "" && subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// loginSecret is what the login form takes: ui.password_file's password,
// else the API token.
func loginSecret(set *settings.Settings) string {
	if set.UI.Password != "" {
		return set.UI.Password
	}
	return set.API.Token
}

// wrongWhat names what the login form takes, in a sentence.
func wrongWhat(set *settings.Settings) string {
	if set.UI.Password != "" {
		return "password"
	}
	return "API token"
}

type loginData struct {
	Next, Label, Message string
}

func (h *Handler) loginForm(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if _, ok := h.identify(r); ok {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	h.render(w, http.StatusOK, view{Title: "Log in"}, h.loginData(next, "").page)
}

func (h *Handler) loginData(next, msg string) loginData {
	label := "API token"
	if h.set.Load().UI.Password != "" {
		label = "Password"
	}
	return loginData{Next: next, Label: label, Message: msg}
}

// login checks the secret of the login form, rate-limited by the client's
// address, and starts a session.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if err := h.crossOrigin(r); err != nil {
		h.refuse(w, r, http.StatusForbidden, "refused: "+err.Error())
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	next, addr, now := safeNext(r.PostFormValue("next")), clientAddr(r), time.Now()
	if wait := h.logins.wait(addr, now); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		h.render(w, http.StatusTooManyRequests, view{Title: "Log in"},
			h.loginData(next, "Too many wrong attempts from your address: wait a minute.").page)
		return
	}
	set := h.set.Load()
	secret := loginSecret(set)
	if !equalSecret(r.PostFormValue("secret"), secret) {
		h.logins.fail(addr, now)
		h.log.Warn().Str("remote", addr).Msg("page login refused: wrong secret")
		h.render(w, http.StatusUnauthorized, view{Title: "Log in"}, h.loginData(next, "Wrong "+wrongWhat(set)+".").page)
		return
	}
	se := h.sessions.create(set.UI.SessionTTL, credential(secret), now)
	http.SetCookie(w, h.cookie(r, se.id, int(set.UI.SessionTTL.Seconds())))
	h.log.Info().Str("remote", addr).Str("by", se.label).Msg("page login")
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the visitor's session.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request, v visitor) {
	if v.sess != nil {
		h.sessions.end(v.sess.id)
		h.log.Info().Str("by", v.who).Msg("page logout")
	}
	http.SetCookie(w, h.cookie(r, "", -1))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// cookie is the session cookie: HttpOnly, SameSite=Strict, and Secure when
// the page is served over TLS, here or at public_url.
func (h *Handler) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	secure := r.TLS != nil || strings.HasPrefix(h.set.Load().PublicURL, "https://")
	return &http.Cookie{Name: cookieName, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode}
}

// safeNext is where to go after the login: a path of this site, else /.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/"
	}
	return next
}

// clientAddr is the address the request came from, without the port.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
