package server

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/oauth"
	"github.com/tsmcp/tsmcp/internal/safetext"
)

// The pages of the per-identity OAuth flow (see credentials.go), on the
// tailnet listener only, each for the identity WhoIs names:
//   - GET /connect/<upstream> sends the browser to the upstream's
//     authorization server, when the policy lets the caller use the
//     upstream;
//   - GET /oauth/callback finishes the flow the same identity started
//     (the manager refuses a state started by another identity, expired,
//     replayed or forged) and says so on a small page;
//   - POST /connect/<upstream>?disconnect deletes the caller's token
//     (the identity page's Disconnect button; a foreign Origin is refused
//     by checkHost, as for every request).
// Clients get generic words; the details go to the log.

// resultTmpl is the page that ends a connect or a callback.
var resultTmpl = template.Must(template.New("result").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>tsmcp: {{.Title}}</title>
<style>` + pageCSS + `</style></head>
<body>
<h1 id="result">{{.Title}}</h1>
<p id="detail">{{.Detail}}</p>
<p><a href="/#connections">Back to your connections</a></p>
</body></html>
`))

// writeResult writes the result page with status code.
func (s *Server) writeResult(w http.ResponseWriter, code int, title, detail string) {
	h := w.Header()
	noStore(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	w.WriteHeader(code)
	if err := resultTmpl.Execute(w, struct{ Title, Detail string }{title, detail}); err != nil {
		s.log.Debug("writing a connect page", "err", err)
	}
}

// connectCaller returns the caller of r and its credential key, or
// writes the refusal.
func (s *Server) connectCaller(w http.ResponseWriter, r *http.Request) (*identity.Identity, string, bool) {
	id, ok := identity.FromContext(r.Context())
	if !ok || s.creds == nil {
		writeError(w, http.StatusNotFound)
		return nil, "", false
	}
	key := id.CredentialKey()
	if key == "" {
		s.log.Warn("refused a connection page: the caller has no stable ID", "caller", id.String())
		writeError(w, http.StatusForbidden)
		return nil, "", false
	}
	return id, key, true
}

// serveConnect starts the caller's authorization to an upstream with
// auth (GET /connect/<upstream>): a redirect to the authorization URL.
// An upstream that does not exist, has no auth or that the policy does
// not let the caller use is 404 alike.
func (s *Server) serveConnect(w http.ResponseWriter, r *http.Request) {
	id, key, ok := s.connectCaller(w, r)
	if !ok {
		return
	}
	name := r.PathValue("upstream")
	up, ok := s.authUpstream(id, name)
	if !ok {
		s.log.Info("refused a connect: no such upstream with auth, or the policy does not allow it to the caller", "caller", id.String(), "upstream", bounded(name))
		s.writeResult(w, http.StatusNotFound, "Not found", "There is no upstream of that name you may connect to.")
		return
	}
	a, err := s.creds.m.Start(r.Context(), key, &up)
	if err != nil {
		s.log.Warn("could not start an authorization", "caller", id.String(), "upstream", name, "err", safetext.Log(err.Error(), 1024))
		s.writeResult(w, http.StatusBadGateway, "Could not connect", "The upstream's authorization server could not be reached or understood; the host's log says why.")
		return
	}
	s.log.Info("authorization started", "caller", id.String(), "upstream", name)
	noStore(w.Header())
	http.Redirect(w, r, a.URL, http.StatusFound)
}

// serveCallback finishes the caller's authorization (GET
// /oauth/callback): only the identity that started it can.
func (s *Server) serveCallback(w http.ResponseWriter, r *http.Request) {
	id, key, ok := s.connectCaller(w, r)
	if !ok {
		return
	}
	c, err := s.creds.m.Finish(r.Context(), key, oauth.CallbackFromQuery(r.URL.Query()))
	if err != nil {
		s.log.Warn("refused an authorization callback", "caller", id.String(), "err", safetext.Log(err.Error(), 1024))
		code, detail := http.StatusBadGateway, "The authorization did not complete; the host's log says why. Start again from your connections."
		switch {
		case errors.Is(err, oauth.ErrUnknownState), errors.Is(err, oauth.ErrWrongIdentity), errors.Is(err, oauth.ErrStateExpired), errors.Is(err, oauth.ErrIssuerMismatch):
			code, detail = http.StatusBadRequest, "This link does not finish an authorization you started (or it expired). Start again from your connections."
		}
		s.writeResult(w, code, "Not connected", detail)
		return
	}
	if _, ok := s.authUpstream(id, c.Upstream); !ok {
		// The policy changed while the caller was away.
		_ = s.creds.m.Disconnect(key, c.Upstream)
		s.log.Warn("refused an authorization: the policy no longer allows the upstream to the caller", "caller", id.String(), "upstream", c.Upstream)
		s.writeResult(w, http.StatusForbidden, "Not connected", "You may no longer use this upstream.")
		return
	}
	s.creds.ups.Connected(c.Upstream, key)
	s.log.Info("caller connected an upstream", "caller", id.String(), "upstream", c.Upstream)
	detail := "Your calls to " + c.Upstream + " now carry your own authorization"
	if c.Subject != "" {
		detail += " (as " + showName(c.Subject) + ")"
	}
	s.writeResult(w, http.StatusOK, "Connected to "+c.Upstream, detail+". You can close this page and call again.")
}

// serveDisconnect deletes the caller's token for an upstream (POST
// /connect/<upstream>?disconnect) and goes back to the identity page.
// Disconnecting needs no permission: it only deletes the caller's own.
func (s *Server) serveDisconnect(w http.ResponseWriter, r *http.Request) {
	id, key, ok := s.connectCaller(w, r)
	if !ok {
		return
	}
	if !r.URL.Query().Has("disconnect") {
		w.Header().Set("Allow", "GET")
		writeError(w, http.StatusMethodNotAllowed)
		return
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		writeForbidden(w, foreignOriginReason)
		return
	}
	name := r.PathValue("upstream")
	if _, _, _, ok := s.creds.ups.AuthUpstream(name); !ok {
		writeError(w, http.StatusNotFound)
		return
	}
	if err := s.creds.m.Disconnect(key, name); err != nil {
		s.log.Warn("could not delete a token", "caller", id.String(), "upstream", name, "err", err.Error())
		s.writeResult(w, http.StatusInternalServerError, "Not disconnected", "The token could not be deleted; the host's log says why.")
		return
	}
	s.creds.ups.Disconnected(name, key)
	s.log.Info("caller disconnected an upstream", "caller", id.String(), "upstream", name)
	http.Redirect(w, r, "/#connections", http.StatusSeeOther)
}

// pageConnection is one upstream with auth as the identity page shows it.
type pageConnection struct {
	Upstream  string `json:"upstream"`
	Connected bool   `json:"connected"`
	// Subject is who the upstream knows the caller as; empty: unknown.
	Subject string `json:"subject,omitempty"`
	// Expiry is when the access token expires (RFC 3339); empty:
	// unknown. A refreshable token is renewed on use.
	Expiry      string `json:"expiry,omitempty"`
	Refreshable bool   `json:"refreshable,omitempty"`
	// URL is the connect page, and with ?disconnect the Disconnect form's
	// target.
	URL string `json:"url"`
}

// connectionsFor lists the upstreams with auth id may use, and id's
// connection to each.
func (s *Server) connectionsFor(id *identity.Identity) []pageConnection {
	out := []pageConnection{}
	if s.creds == nil || s.creds.ups == nil {
		return out
	}
	key := id.CredentialKey()
	for _, name := range s.creds.ups.AuthUpstreams() {
		if _, ok := s.authUpstream(id, name); !ok || key == "" {
			continue
		}
		pc := pageConnection{Upstream: showName(name), URL: connectPrefix + url.PathEscape(name)}
		c, err := s.creds.m.Connection(key, name)
		if err != nil {
			s.log.Warn("could not read a connection", "upstream", name, "err", err.Error())
		}
		if c.Connected {
			pc.Connected, pc.Subject, pc.Refreshable = true, showName(c.Subject), c.Refreshable
			if !c.Expiry.IsZero() {
				pc.Expiry = c.Expiry.UTC().Format(time.RFC3339)
			}
		}
		out = append(out, pc)
	}
	return out
}
