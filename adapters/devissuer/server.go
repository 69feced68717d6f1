package devissuer

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/spaapi/ports"
)

// Lifetimes of what the issuer hands out.
const (
	AccessTokenTTL  = time.Hour
	IDTokenTTL      = 10 * time.Hour
	CodeTTL         = time.Minute
	LoginTTL        = 10 * time.Minute
	SessionTTL      = 24 * time.Hour
	RefreshTokenTTL = 30 * 24 * time.Hour
	sessionCookie   = "devissuer_session"
	// browserCookie ties a login page to the browser that asked for it.
	browserCookie = "devissuer_browser"
)

// Server is the development issuer's HTTP side.
type Server struct {
	cfg    Config
	minter *Minter
	log    *slog.Logger
	// proofs checks DPoP proofs at /oauth/token (RFC 9449 §5); nil: DPoP
	// is not supported.
	proofs ports.TokenRequestProofs
	// mtlsTokenURL is the token endpoint over mutual TLS (RFC 8705 §5),
	// "" when there is none; mtlsDir holds the client certificate
	// registered for self_signed_tls_client_auth (ClientCertFile).
	mtlsTokenURL, mtlsDir string

	mu       sync.Mutex
	logins   *expiring[*authRequest]  // login page shown, awaiting a choice
	codes    *expiring[*authCode]     // authorization codes, single use
	sessions *expiring[*session]      // browser sessions (cookie)
	refresh  *expiring[*refreshToken] // by SHA-256 of the token
	lastWarn time.Time                // of the last "too many" warning
}

// authRequest is a checked /authorize request.
type authRequest struct {
	client        Client
	redirectURI   string
	responseMode  string // "query" or "web_message"
	state         string
	nonce         string
	scopes        []string
	codeChallenge string
	dpopJKT       string // dpop_jkt: the key the token request must prove (RFC 9449 §10)
	browser       string // the browserCookie of the browser that asked
	// acrValues are acr_values (OpenID Connect Core §3.1.2.1): with
	// ACRMultiFactor among them, the login takes the second step.
	acrValues []string
	// maxAge is max_age, when hasMaxAge: a session older than that
	// logs in again.
	maxAge    time.Duration
	hasMaxAge bool
	// second is set while the login waits for its one-time code.
	second *secondStep
}

// secondStep is a login waiting for its one-time code: who is logging in
// (a session only once the code is right) and the code shown.
type secondStep struct {
	sess  *session
	code  string
	tries int // wrong codes so far
}

type authCode struct {
	req     *authRequest
	who     identity
	granted []string // API scopes granted
	perms   []string
	login   Login
}

type session struct {
	who     identity
	perms   []string // nil for a typed-in subject: grants what was ticked
	ticked  []string
	login   Login
	expires time.Time
}

type refreshToken struct {
	family   string // all rotations of one grant share it
	used     bool
	clientID string
	who      identity
	scopes   []string
	perms    []string
	login    Login // the original login's, never renewed by a refresh
	// jkt binds a public client's refresh token to the DPoP key of the
	// request that got it (RFC 9449 §5): only a proof by that key can use it.
	jkt string
}

// NewServer returns the issuer for cfg, signing with keys. issuer is its
// identifier, e.g. "http://localhost:8081/". proofs checks DPoP proofs at
// the token endpoint; nil turns DPoP off.
func NewServer(issuer string, cfg Config, keys *Keys, proofs ports.TokenRequestProofs, log *slog.Logger, now func() time.Time) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !strings.HasSuffix(issuer, "/") {
		issuer += "/"
	}
	if now == nil {
		now = time.Now
	}
	return &Server{
		cfg:      cfg,
		minter:   &Minter{Issuer: issuer, Audience: cfg.Audience, Keys: keys, Now: now},
		log:      log,
		proofs:   proofs,
		logins:   newExpiring[*authRequest](MaxPendingLogins),
		codes:    newExpiring[*authCode](MaxCodes),
		sessions: newExpiring[*session](MaxSessions),
		refresh:  newExpiring[*refreshToken](MaxRefreshTokens),
	}, nil
}

// ServeMutualTLS says that the token endpoint is also served over mutual
// TLS at tokenURL (an https URL), where the machine client may
// authenticate with the self-signed development client certificate in dir
// (self_signed_tls_client_auth, RFC 8705 §2.2) instead of its secret, and
// where every client_credentials token is bound to the certificate the
// client presented (cnf x5t#S256, §3). Call it before serving.
func (s *Server) ServeMutualTLS(tokenURL, dir string) {
	s.mtlsTokenURL, s.mtlsDir = tokenURL, dir
}

// Issuer returns the issuer identifier.
func (s *Server) Issuer() string { return s.minter.Issuer }

// Handler serves Auth0's paths.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", s.discovery)
	// The same document as OAuth 2.0 authorization server metadata
	// (RFC 8414 §3), where OAuth clients that are not OpenID clients look.
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", s.discovery)
	mux.HandleFunc("GET /.well-known/jwks.json", s.jwks)
	mux.HandleFunc("GET /authorize", s.authorize)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /oauth/token", s.token)
	mux.HandleFunc("GET /userinfo", s.userinfo)
	mux.HandleFunc("GET /v2/logout", s.logout)
	mux.HandleFunc("GET /oidc/logout", s.logout)
	mux.HandleFunc("OPTIONS /", s.preflight)
	mux.HandleFunc("GET /{$}", s.home)
	return s.cors(mux)
}

func (s *Server) now() time.Time { return s.minter.now() }

// evicted notes that a bound made the issuer forget something live: a
// warning at most once a minute, not once per request. Call with mu held.
func (s *Server) evicted(what string, max int) {
	if now := time.Now(); now.Sub(s.lastWarn) >= time.Minute {
		s.lastWarn = now
		s.log.Warn("devissuer: too many "+what+"; forgetting the oldest", "max", max)
	}
}

func (s *Server) discovery(w http.ResponseWriter, _ *http.Request) {
	iss := s.minter.Issuer
	doc := map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                iss + "authorize",
		"token_endpoint":                        iss + "oauth/token",
		"userinfo_endpoint":                     iss + "userinfo",
		"jwks_uri":                              iss + ".well-known/jwks.json",
		"end_session_endpoint":                  iss + "oidc/logout",
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query", "web_message"},
		"grant_types_supported":                 []string{"authorization_code", "refresh_token", "client_credentials"},
		"code_challenge_methods_supported":      []string{"S256"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic", "none"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "name", "nickname", "email", "email_verified"},
		"acr_values_supported":                  []string{ACRMultiFactor},
	}
	if s.proofs != nil {
		doc["dpop_signing_alg_values_supported"] = s.proofs.Algorithms() // RFC 9449 §5.1
	}
	if s.mtlsTokenURL != "" { // RFC 8705 §3.3, §5
		doc["token_endpoint_auth_methods_supported"] = []string{"client_secret_post", "client_secret_basic", "none", "self_signed_tls_client_auth"}
		doc["tls_client_certificate_bound_access_tokens"] = true
		doc["mtls_endpoint_aliases"] = map[string]string{"token_endpoint": s.mtlsTokenURL}
	}
	writeJSON(w, http.StatusOK, doc)
}

func (s *Server) jwks(w http.ResponseWriter, _ *http.Request) {
	b, err := s.minter.Keys.JWKS()
	if err != nil {
		s.log.Error("devissuer: reading keys", "error", err)
		writeJSON(w, http.StatusInternalServerError, oauthError{"server_error", "cannot read signing keys"})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func (s *Server) home(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Development issuer %s — not for production.\nDiscovery: %s.well-known/openid-configuration\n", s.minter.Issuer, s.minter.Issuer)
}

// userinfo answers for a valid access token this issuer signed.
func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="devissuer"`)
		writeJSON(w, http.StatusUnauthorized, oauthError{"invalid_request", "bearer token required"})
		return
	}
	claims := jwt.MapClaims{}
	_, err := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(s.minter.Issuer),
		jwt.WithAudience(s.minter.Issuer+"userinfo"), jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.now)).
		ParseWithClaims(strings.TrimSpace(tok), claims, func(t *jwt.Token) (any, error) {
			kid, _ := t.Header["kid"].(string)
			return s.publicKey(kid)
		})
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="devissuer", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, oauthError{"invalid_token", "access token not accepted by /userinfo"})
		return
	}
	if _, bound := claims["cnf"]; bound {
		// A DPoP-bound token is not a bearer token; this endpoint takes
		// bearer tokens only.
		w.Header().Set("WWW-Authenticate", `Bearer realm="devissuer", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, oauthError{"invalid_token", "DPoP-bound access tokens are not accepted by /userinfo"})
		return
	}
	sub, _ := claims["sub"].(string)
	info := map[string]any{"sub": sub}
	if u, ok := s.userBySubject(sub); ok {
		info["name"], info["nickname"] = u.Name, identity{Name: u.Name, Email: u.Email}.Nickname()
		if u.Email != "" {
			info["email"], info["email_verified"] = u.Email, true
		}
	} else {
		info["name"], info["nickname"] = sub, sub
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) publicKey(kid string) (any, error) {
	s.minter.Keys.mu.Lock()
	defer s.minter.Keys.mu.Unlock()
	for _, k := range s.minter.Keys.live(s.now()) {
		if k.KID == kid {
			return &k.private.PublicKey, nil
		}
	}
	return nil, errors.New("unknown kid")
}

func (s *Server) userBySubject(sub string) (User, bool) {
	for _, u := range s.cfg.Users {
		if u.Subject == sub {
			return u, true
		}
	}
	return User{}, false
}

// logout ends the browser session and returns to an allowed URL:
// Auth0's /v2/logout?returnTo=&client_id= and OIDC's
// /oidc/logout?post_logout_redirect_uri=&client_id=&state=.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.mu.Lock()
		s.sessions.delete(c.Value)
		s.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})

	returnTo := q.Get("returnTo")
	if r.URL.Path == "/oidc/logout" {
		returnTo = q.Get("post_logout_redirect_uri")
	}
	if returnTo == "" {
		page(w, http.StatusOK, "Logged out", "You are logged out of the development issuer.")
		return
	}
	allowed := false
	for _, cl := range s.cfg.Clients {
		if (q.Get("client_id") == "" || q.Get("client_id") == cl.ClientID) && slices.Contains(cl.LogoutURLs, returnTo) {
			allowed = true
		}
	}
	if !allowed {
		page(w, http.StatusBadRequest, "Logout URL not allowed",
			fmt.Sprintf("%q is not in the client's logout_urls in config.json.", returnTo))
		return
	}
	if state := q.Get("state"); state != "" && r.URL.Path == "/oidc/logout" {
		u, _ := url.Parse(returnTo)
		v := u.Query()
		v.Set("state", state)
		u.RawQuery = v.Encode()
		returnTo = u.String()
	}
	http.Redirect(w, r, returnTo, http.StatusFound)
}

// cors lets registered web origins call the token and userinfo endpoints
// and read discovery and keys.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Origin")
		if origin := r.Header.Get("Origin"); origin != "" && s.webOrigin(origin) {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Expose-Headers", "DPoP-Nonce, WWW-Authenticate")
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	if w.Header().Get("Access-Control-Allow-Origin") == "" {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
	if h := r.Header.Get("Access-Control-Request-Headers"); h != "" {
		w.Header().Set("Access-Control-Allow-Headers", h)
	}
	w.Header().Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) webOrigin(origin string) bool {
	for _, cl := range s.cfg.Clients {
		if cl.webOrigin(origin) {
			return true
		}
	}
	return false
}

// oauthError is the OAuth 2.0 error body (RFC 6749 §5.2).
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Audience returns the API identifier the issuer's access tokens carry.
func (s *Server) Audience() string { return s.cfg.Audience }
