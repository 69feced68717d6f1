package devissuer

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// tokenResponse is /oauth/token's success body.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	ExpiresIn    int    `json:"expires_in"`
	TokenType    string `json:"token_type"`
}

// token is /oauth/token: authorization_code (with PKCE), refresh_token
// (rotating) and client_credentials, with JSON or form bodies.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	p, err := tokenParams(w, r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", err.Error()})
		return
	}
	switch p.Get("grant_type") {
	case "authorization_code":
		s.codeGrant(w, p)
	case "refresh_token":
		s.refreshGrant(w, p)
	case "client_credentials":
		s.clientGrant(w, r, p)
	case "":
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", "grant_type is required"})
	default:
		writeJSON(w, http.StatusBadRequest, oauthError{"unsupported_grant_type", "grant_type must be authorization_code, refresh_token or client_credentials"})
	}
}

// tokenParams reads the request body as JSON or as a form.
func tokenParams(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			return nil, errBadBody
		}
		v := url.Values{}
		for k, val := range m {
			s, ok := val.(string)
			if !ok {
				return nil, errBadBody
			}
			v.Set(k, s)
		}
		return v, nil
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return nil, errBadBody
		}
		return r.PostForm, nil
	}
	return nil, errContentType
}

type paramError string

func (e paramError) Error() string { return string(e) }

const (
	errBadBody     = paramError("the body is not a JSON object of strings or a valid form")
	errContentType = paramError("Content-Type must be application/json or application/x-www-form-urlencoded")
)

func (s *Server) codeGrant(w http.ResponseWriter, p url.Values) {
	s.mu.Lock()
	c, ok := s.codes.take(p.Get("code"), s.now()) // single use, whatever happens next
	s.mu.Unlock()
	switch {
	case !ok:
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_grant", "invalid, expired or already used authorization code"})
		return
	case p.Get("client_id") != c.req.client.ClientID:
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_grant", "the code was issued to another client"})
		return
	case p.Get("redirect_uri") != c.req.redirectURI:
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_grant", "redirect_uri does not match the authorization request"})
		return
	}
	if c.req.client.ClientSecret != "" && !secretOK(c.req.client, p.Get("client_secret")) {
		writeJSON(w, http.StatusUnauthorized, oauthError{"invalid_client", "client authentication failed"})
		return
	}
	if c.req.codeChallenge != "" {
		v := p.Get("code_verifier")
		sum := sha256.Sum256([]byte(v))
		if !pkceValue().MatchString(v) || base64.RawURLEncoding.EncodeToString(sum[:]) != c.req.codeChallenge {
			writeJSON(w, http.StatusBadRequest, oauthError{"invalid_grant", "code_verifier does not match the code_challenge"})
			return
		}
	}
	var refreshScopes []string
	if slices.Contains(c.granted, "offline_access") {
		refreshScopes = c.granted
	}
	s.issue(w, c.req.client.ClientID, c.req.nonce, c.who, c.granted, c.perms, c.authTime, "", refreshScopes)
}

// refreshGrant rotates a refresh token: the old one is used up, and the
// answer always carries its successor in the same family, with the same
// grant, even when the request narrows the scopes of the access token.
func (s *Server) refreshGrant(w http.ResponseWriter, p url.Values) {
	h := hash(p.Get("refresh_token"))
	s.mu.Lock()
	rt, ok := s.refresh.get(h, s.now())
	reused := ok && rt.used
	if reused {
		// A rotated-out token came back: someone kept a copy. Revoke the
		// whole family, as Auth0's refresh token rotation does.
		family := rt.family
		s.refresh.deleteIf(func(v *refreshToken) bool { return v.family == family })
	}
	valid := ok && !reused && rt.clientID == p.Get("client_id")
	if valid {
		rt.used = true
	}
	s.mu.Unlock()
	switch {
	case !ok:
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_grant", "unknown, expired or revoked refresh token"})
		return
	case reused:
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_grant", "refresh token already used; its family is revoked"})
		return
	case !valid:
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_grant", "refresh token issued to another client"})
		return
	}
	scopes := rt.scopes
	if req := strings.Fields(p.Get("scope")); len(req) > 0 {
		// Narrow, never widen: only scopes the grant holds.
		scopes = slices.DeleteFunc(slices.Clone(req), func(sc string) bool { return !slices.Contains(rt.scopes, sc) })
	}
	s.issue(w, rt.clientID, "", rt.who, scopes, rt.perms, rt.authTime, rt.family, rt.scopes)
}

// issue answers with an access token for scopes, an ID token when openid
// is among them, and a refresh token for refreshScopes (in family, or a new
// one) unless that is nil.
func (s *Server) issue(w http.ResponseWriter, clientID, nonce string, who identity, scopes, perms []string, authTime time.Time,
	family string, refreshScopes []string) {
	access, _, err := s.minter.AccessToken(Grant{
		Subject: who.Subject, ClientID: clientID, Scopes: scopes, Permissions: perms,
		TTL: AccessTokenTTL, UserInfo: slices.Contains(scopes, "openid"),
	})
	if err != nil {
		s.serverError(w, err)
		return
	}
	resp := tokenResponse{AccessToken: access, Scope: strings.Join(scopes, " "), ExpiresIn: int(AccessTokenTTL.Seconds()), TokenType: "Bearer"}
	if slices.Contains(scopes, "openid") {
		if resp.IDToken, err = s.minter.IDToken(clientID, nonce, who, authTime, IDTokenTTL); err != nil {
			s.serverError(w, err)
			return
		}
	}
	if refreshScopes != nil {
		if family == "" {
			family = randomID()
		}
		resp.RefreshToken = randomToken()
		s.mu.Lock()
		if s.refresh.put(hash(resp.RefreshToken), &refreshToken{family: family, clientID: clientID, who: who,
			scopes: refreshScopes, perms: perms, authTime: authTime}, s.now().Add(RefreshTokenTTL), s.now()) {
			s.evicted("refresh tokens", MaxRefreshTokens)
		}
		s.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) clientGrant(w http.ResponseWriter, r *http.Request, p url.Values) {
	id, secret := p.Get("client_id"), p.Get("client_secret")
	if u, pw, ok := r.BasicAuth(); ok {
		id, secret = u, pw
	}
	client, ok := s.cfg.client(id)
	if !ok || client.ClientSecret == "" || !secretOK(client, secret) {
		w.Header().Set("WWW-Authenticate", `Basic realm="devissuer"`)
		writeJSON(w, http.StatusUnauthorized, oauthError{"invalid_client", "client authentication failed"})
		return
	}
	if !client.allows("client_credentials") {
		writeJSON(w, http.StatusBadRequest, oauthError{"unauthorized_client", "this client may not use client_credentials"})
		return
	}
	if aud := p.Get("audience"); aud != "" && aud != s.cfg.Audience {
		writeJSON(w, http.StatusForbidden, oauthError{"access_denied", "unknown audience " + aud})
		return
	}
	scopes := client.Scopes
	if req := strings.Fields(p.Get("scope")); len(req) > 0 {
		scopes = slices.DeleteFunc(slices.Clone(req), func(sc string) bool { return !slices.Contains(client.Scopes, sc) })
	}
	access, _, err := s.minter.AccessToken(Grant{
		Subject: client.ClientID + "@clients", ClientID: client.ClientID, Scopes: scopes,
		Permissions: append([]string{}, scopes...), TTL: AccessTokenTTL, Extra: map[string]any{"gty": "client-credentials"},
	})
	if err != nil {
		s.serverError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, tokenResponse{AccessToken: access, Scope: strings.Join(scopes, " "),
		ExpiresIn: int(AccessTokenTTL.Seconds()), TokenType: "Bearer"})
}

func secretOK(c Client, secret string) bool {
	return subtle.ConstantTimeCompare([]byte(c.ClientSecret), []byte(secret)) == 1
}

func (s *Server) serverError(w http.ResponseWriter, err error) {
	s.log.Error("devissuer: issuing a token", "error", err)
	writeJSON(w, http.StatusInternalServerError, oauthError{"server_error", "could not sign a token"})
}
