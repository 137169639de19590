package receiver

import (
	"mime"
	"net/http"

	"github.com/wh-gitd/wh-gitd/settings"
)

// admit decides everything about a delivery that needs no body, in the order
// that costs a stranger the least: the sender's address (403, also for names
// that are not endpoints, so strangers cannot probe them), the endpoint
// (404), the method (405), the content type (415), a declared length over the
// cap (413), and signature headers that cannot verify (401). It answers the
// refusals itself and returns the entry and its logger when the body may be
// read.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request, set *settings.Settings) (*settings.Repo, *deliveryLog, bool) {
	name := r.PathValue("name")
	repo, known := set.Repos[name]
	client := clientAddr(r, set.TrustedProxies)
	log := newDeliveryLog(h.log)
	log.str("remote_addr", r.RemoteAddr)
	log.addr("client", client)
	if !allowed(set, repo, client) {
		key := unknownEndpoint
		if known {
			key = name
			log.str("repo", name)
		}
		h.refuse(w, log, key, http.StatusForbidden, "deliveries from this address are not allowed",
			"address not in the allow list")
		return nil, log, false
	}
	if !known || repo.Provider == settings.Git { // pushed to on this host: its hook submits
		fail(w, http.StatusNotFound, "no such endpoint")
		return nil, log, false
	}
	log.str("repo", repo.Name)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		fail(w, http.StatusMethodNotAllowed, "use POST")
		return nil, log, false
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		h.refuse(w, log, name, http.StatusUnsupportedMediaType, "content type must be application/json",
			"content type is not application/json")
		return nil, log, false
	}
	if r.ContentLength > set.MaxBodyBytes {
		h.refuse(w, log, name, http.StatusRequestEntityTooLarge, "body is larger than the limit",
			"declared body length is over max_body_bytes")
		return nil, log, false
	}
	if reason, ok := precheck(repo.Dialect(), repo.Secret, r.Header); !ok {
		h.refuse(w, log, name, http.StatusUnauthorized, errUnauthorized.Error(), "signature: "+reason)
		return nil, log, false
	}
	return repo, log, true
}

// refuse answers status with msg, and logs reason unless the endpoint key
// has had its share of refusal lines this minute.
func (h *Handler) refuse(w http.ResponseWriter, log *deliveryLog, key string, status int, msg, reason string) {
	if h.refusals.admit(key) {
		log.Warn().Int("status", status).Str("reason", reason).Msg("delivery refused")
	}
	if status == http.StatusRequestEntityTooLarge || status == http.StatusForbidden {
		// The body is never read: do not let the connection carry on with it.
		w.Header().Set("Connection", "close")
	}
	fail(w, status, msg)
}
