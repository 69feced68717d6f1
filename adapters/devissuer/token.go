package devissuer

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
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
// (rotating) and client_credentials, with JSON or form bodies. A DPoP proof
// (RFC 9449 §5) binds the tokens issued to its key.
//
// The proof is checked in two steps (ports.TokenRequestProofs): first
// what costs nothing much (its form, key, claims and nonce), then, once the
// client is authenticated and its grant found valid, its signature and its
// jti. Anonymous or failing requests therefore never cost a signature
// check, and never take room in the cache of used proofs.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	p, err := tokenParams(w, r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", err.Error()})
		return
	}
	if name := repeated(p, tokenParamNames); name != "" {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", name + " is given more than once"})
		return
	}
	proof, ok := s.tokenProof(w, r)
	if !ok {
		return
	}
	switch p.Get("grant_type") {
	case "authorization_code":
		s.codeGrant(w, r, p, proof)
	case "refresh_token":
		s.refreshGrant(w, r, p, proof)
	case "client_credentials":
		s.clientGrant(w, r, p, proof)
	case "":
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", "grant_type is required"})
	default:
		writeJSON(w, http.StatusBadRequest, oauthError{"unsupported_grant_type", "grant_type must be authorization_code, refresh_token or client_credentials"})
	}
}

// tokenProof runs the first step of the check of the token request's DPoP
// proof, if it has one, and returns the proof (nil without one).
// Otherwise it answers (see proofRefused) and returns false. With nonces
// on, every answer to a DPoP request carries the current nonce.
func (s *Server) tokenProof(w http.ResponseWriter, r *http.Request) (ports.TokenRequestProof, bool) {
	proofs := r.Header.Values("DPoP")
	if len(proofs) == 0 {
		return nil, true
	}
	if s.proofs == nil {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_dpop_proof", "this issuer was started without DPoP support"})
		return nil, false
	}
	if nonce := s.proofs.Nonce(); nonce != "" {
		w.Header().Set("DPoP-Nonce", nonce)
	}
	proof, err := s.proofs.CheckTokenRequestProof(ports.ProofRequest{
		Method: r.Method, URL: s.minter.Issuer + "oauth/token", Proofs: proofs,
	})
	if err != nil {
		s.proofRefused(w, err)
		return nil, false
	}
	return proof, true
}

// acceptProof runs the second step of the proof's check (its signature
// and jti), for a client authenticated with a valid grant, and returns the
// key's thumbprint, which the tokens are to be bound to ("" without a
// proof). Otherwise it answers and returns false.
func (s *Server) acceptProof(w http.ResponseWriter, r *http.Request, proof ports.TokenRequestProof) (string, bool) {
	if proof == nil {
		return "", true
	}
	if err := proof.Accept(r.Context()); err != nil {
		s.proofRefused(w, err)
		return "", false
	}
	return proof.JKT(), true
}

// claimedJKT is the thumbprint proof claims ("" without a proof), for
// comparing with a grant's binding before the proof is accepted.
func claimedJKT(proof ports.TokenRequestProof) string {
	if proof == nil {
		return ""
	}
	return proof.JKT()
}

// proofRefused answers a refused proof: 400 invalid_dpop_proof, or
// use_dpop_nonce with the nonce to use; 429 when the proof's key has its
// share of the used proofs; 503 when used proofs cannot be checked.
func (s *Server) proofRefused(w http.ResponseWriter, err error) {
	var pe *domain.ProofError
	if !errors.As(err, &pe) {
		s.log.Error("devissuer: checking a DPoP proof", "error", err)
		writeJSON(w, http.StatusInternalServerError, oauthError{"server_error", "could not check the DPoP proof"})
		return
	}
	retryAfter := func(def time.Duration) {
		if pe.RetryAfter > 0 {
			def = pe.RetryAfter
		}
		w.Header().Set("Retry-After", strconv.Itoa(int((def+time.Second-1)/time.Second)))
	}
	switch pe.Code() {
	case domain.ProofCodeUnavailable:
		retryAfter(5 * time.Second)
		writeJSON(w, http.StatusServiceUnavailable, oauthError{"temporarily_unavailable", pe.Describe()})
	case domain.ProofCodeTooMany:
		retryAfter(time.Second)
		writeJSON(w, http.StatusTooManyRequests, oauthError{domain.ProofCodeTooMany, pe.Describe()})
	case domain.ProofCodeUseNonce:
		writeJSON(w, http.StatusBadRequest, oauthError{"use_dpop_nonce", pe.Describe()})
	default:
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_dpop_proof", pe.Describe()})
	}
}

// tokenParamNames are the /oauth/token parameters the issuer reads; none
// may be given more than once (RFC 6749 §3.1), in a form or in JSON.
var tokenParamNames = []string{"grant_type", "code", "redirect_uri", "client_id", "client_secret", "code_verifier",
	"refresh_token", "scope", "audience"}

// tokenParams reads the request body as JSON or as a form, keeping every
// value of a repeated parameter.
func tokenParams(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	// A malformed parameter ("application/json; a") makes the whole
	// header malformed: ParseMediaType returns the type and an error.
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, errContentType
	}
	switch ct {
	case "application/json":
		return jsonParams(r.Body)
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return nil, errBadBody
		}
		return r.PostForm, nil
	}
	return nil, errContentType
}

// jsonParams reads one JSON object of strings, and nothing after it (but
// white space), as parameters: a member named twice is a parameter given
// twice.
func jsonParams(body io.Reader) (url.Values, error) {
	dec := json.NewDecoder(body)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errBadBody
	}
	v := url.Values{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errBadBody
		}
		name, _ := tok.(string) // in an object, a name
		var raw json.RawMessage
		var s string
		if dec.Decode(&raw) != nil || len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return nil, errBadBody
		}
		v.Add(name, s)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, errBadBody
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errTrailingData
	}
	return v, nil
}

type paramError string

func (e paramError) Error() string { return string(e) }

const (
	errBadBody      = paramError("the body is not a JSON object of strings or a valid form")
	errContentType  = paramError("Content-Type must be application/json or application/x-www-form-urlencoded")
	errTrailingData = paramError("the body has data after its JSON object")
)

func (s *Server) codeGrant(w http.ResponseWriter, r *http.Request, p url.Values, proof ports.TokenRequestProof) {
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
	case c.req.dpopJKT != "" && claimedJKT(proof) != c.req.dpopJKT:
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_grant", "the code is bound to a DPoP key (dpop_jkt); a DPoP proof made with that key is required"})
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
	jkt, ok := s.acceptProof(w, r, proof)
	if !ok {
		return
	}
	var refreshScopes []string
	if slices.Contains(c.granted, "offline_access") {
		refreshScopes = c.granted
	}
	s.issue(w, c.req.client, c.req.nonce, c.who, c.granted, c.perms, c.login, "", refreshScopes, jkt)
}

// refreshGrant rotates a refresh token: the old one is used up, and the
// answer always carries its successor in the same family, with the same
// grant, even when the request narrows the scopes of the access token. A
// refresh token bound to a DPoP key is only used with a proof made with
// that key; a request that lacks one does not use it up.
func (s *Server) refreshGrant(w http.ResponseWriter, r *http.Request, p url.Values, proof ports.TokenRequestProof) {
	h := hash(p.Get("refresh_token"))
	s.mu.Lock()
	rt, ok := s.refresh.get(h, s.now())
	reused := ok && rt.used
	if reused {
		s.revokeFamily(rt.family)
	}
	otherKey := ok && !reused && rt.jkt != "" && rt.jkt != claimedJKT(proof)
	valid := ok && !reused && !otherKey && rt.clientID == p.Get("client_id")
	s.mu.Unlock()
	switch {
	case !ok:
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_grant", "unknown, expired or revoked refresh token"})
		return
	case reused:
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_grant", "refresh token already used; its family is revoked"})
		return
	case otherKey:
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_grant", "the refresh token is bound to a DPoP key; a DPoP proof made with that key is required"})
		return
	case !valid:
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_grant", "refresh token issued to another client"})
		return
	}
	client, ok := s.cfg.client(rt.clientID)
	if !ok { // removed from config.json since: as it was
		client = Client{ClientID: rt.clientID}
	}
	if client.ClientSecret != "" && !secretOK(client, p.Get("client_secret")) {
		writeJSON(w, http.StatusUnauthorized, oauthError{"invalid_client", "client authentication failed"})
		return
	}
	// Used up only now, by a request that proves the key it is bound to.
	jkt, ok := s.acceptProof(w, r, proof)
	if !ok {
		return
	}
	s.mu.Lock()
	reused = rt.used
	if reused { // another request used it meanwhile
		s.revokeFamily(rt.family)
	}
	rt.used = true
	s.mu.Unlock()
	if reused {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_grant", "refresh token already used; its family is revoked"})
		return
	}
	scopes := rt.scopes
	if req := strings.Fields(p.Get("scope")); len(req) > 0 {
		// Narrow, never widen: only scopes the grant holds.
		scopes = slices.DeleteFunc(slices.Clone(req), func(sc string) bool { return !slices.Contains(rt.scopes, sc) })
	}
	// The original login, as it was: a refresh is no new login, so
	// auth_time and acr stay those of the grant (and a step-up policy
	// sees the login as old as it is).
	s.issue(w, client, "", rt.who, scopes, rt.perms, rt.login, rt.family, rt.scopes, jkt)
}

// revokeFamily deletes every refresh token of family: a rotated-out token
// came back, so someone kept a copy (as Auth0's refresh token rotation
// does). The caller holds s.mu.
func (s *Server) revokeFamily(family string) {
	s.refresh.deleteIf(func(v *refreshToken) bool { return v.family == family })
}

// issue answers with an access token for scopes, an ID token when openid
// is among them, and a refresh token for refreshScopes (in family, or a new
// one) unless that is nil. With jkt (a DPoP proof's key) the access token
// is bound to it (token_type DPoP), and so is a public client's refresh
// token (RFC 9449 §5). The tokens say how the user logged in (login).
func (s *Server) issue(w http.ResponseWriter, client Client, nonce string, who identity, scopes, perms []string, login Login,
	family string, refreshScopes []string, jkt string) {
	clientID := client.ClientID
	access, _, err := s.minter.AccessToken(Grant{
		Subject: who.Subject, ClientID: clientID, Scopes: scopes, Permissions: perms,
		TTL: AccessTokenTTL, UserInfo: slices.Contains(scopes, "openid"), JKT: jkt, Login: login,
	})
	if err != nil {
		s.serverError(w, err)
		return
	}
	resp := tokenResponse{AccessToken: access, Scope: strings.Join(scopes, " "), ExpiresIn: int(AccessTokenTTL.Seconds()), TokenType: tokenType(jkt)}
	if slices.Contains(scopes, "openid") {
		if resp.IDToken, err = s.minter.IDToken(clientID, nonce, who, login, IDTokenTTL); err != nil {
			s.serverError(w, err)
			return
		}
	}
	if refreshScopes != nil {
		if family == "" {
			family = randomID()
		}
		rt := &refreshToken{family: family, clientID: clientID, who: who, scopes: refreshScopes, perms: perms, login: login}
		if client.ClientSecret == "" {
			rt.jkt = jkt
		}
		resp.RefreshToken = randomToken()
		s.mu.Lock()
		if s.refresh.put(hash(resp.RefreshToken), rt, s.now().Add(RefreshTokenTTL), s.now()) {
			s.evicted("refresh tokens", MaxRefreshTokens)
		}
		s.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, resp)
}

// tokenType is the token_type of an access token bound to jkt, or not.
func tokenType(jkt string) string {
	if jkt != "" {
		return "DPoP"
	}
	return "Bearer"
}

func (s *Server) clientGrant(w http.ResponseWriter, r *http.Request, p url.Values, proof ports.TokenRequestProof) {
	id, secret := p.Get("client_id"), p.Get("client_secret")
	if u, pw, ok := r.BasicAuth(); ok {
		id, secret = u, pw
	}
	client, ok := s.cfg.client(id)
	x5t := s.presentedCertificate(r) // over mutual TLS: the client's certificate
	switch {
	case ok && secret == "" && x5t != "" && client.ClientID == DefaultMachine:
		// self_signed_tls_client_auth (RFC 8705 §2.2): the certificate is
		// the one registered for the machine client.
		if registered := s.registeredCertificate(); registered == "" || subtle.ConstantTimeCompare([]byte(registered), []byte(x5t)) != 1 {
			writeJSON(w, http.StatusUnauthorized, oauthError{"invalid_client", "client certificate not registered for " + DefaultMachine})
			return
		}
	case !ok || client.ClientSecret == "" || !secretOK(client, secret):
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
	jkt, ok := s.acceptProof(w, r, proof)
	if !ok {
		return
	}
	scopes := client.Scopes
	if req := strings.Fields(p.Get("scope")); len(req) > 0 {
		scopes = slices.DeleteFunc(slices.Clone(req), func(sc string) bool { return !slices.Contains(client.Scopes, sc) })
	}
	access, _, err := s.minter.AccessToken(Grant{
		Subject: client.ClientID + "@clients", ClientID: client.ClientID, Scopes: scopes,
		Permissions: append([]string{}, scopes...), TTL: AccessTokenTTL, Extra: map[string]any{"gty": "client-credentials"}, JKT: jkt,
		CertThumbprint: x5t,
	})
	if err != nil {
		s.serverError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, tokenResponse{AccessToken: access, Scope: strings.Join(scopes, " "),
		ExpiresIn: int(AccessTokenTTL.Seconds()), TokenType: tokenType(jkt)})
}

// presentedCertificate is the x5t#S256 of the client certificate r came
// with over the mutual-TLS token endpoint, "" for none.
func (s *Server) presentedCertificate(r *http.Request) string {
	if s.mtlsTokenURL == "" || r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return ""
	}
	sum := sha256.Sum256(r.TLS.PeerCertificates[0].Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// registeredCertificate is the x5t#S256 of the development client
// certificate (made by api token -mtls), "" if there is none.
func (s *Server) registeredCertificate() string {
	leaf, err := readCertificate(filepath.Join(s.mtlsDir, ClientCertFile))
	if err != nil {
		return ""
	}
	return ClientCertificate{Leaf: leaf}.Thumbprint()
}

func secretOK(c Client, secret string) bool {
	return subtle.ConstantTimeCompare([]byte(c.ClientSecret), []byte(secret)) == 1
}

func (s *Server) serverError(w http.ResponseWriter, err error) {
	s.log.Error("devissuer: issuing a token", "error", err)
	writeJSON(w, http.StatusInternalServerError, oauthError{"server_error", "could not sign a token"})
}
