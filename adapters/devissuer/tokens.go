package devissuer

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Minter signs the issuer's tokens. The token CLI uses it without a
// running server; the server uses it for every grant.
type Minter struct {
	// Issuer is the issuer identifier, e.g. "http://localhost:8081/".
	Issuer string
	// Audience is the API identifier access tokens are issued for.
	Audience string
	Keys     *Keys
	Now      func() time.Time
}

// Grant is what an access token says.
type Grant struct {
	Subject     string
	ClientID    string
	Scopes      []string // the "scope" claim
	Permissions []string // Auth0 RBAC "permissions"; nil omits the claim
	TTL         time.Duration
	// UserInfo adds the issuer's /userinfo URL to "aud", as Auth0 does
	// when the openid scope is granted.
	UserInfo bool
	// Extra claims, e.g. "gty" for machine tokens.
	Extra map[string]any
	// JKT binds the token to a DPoP key (RFC 9449 §6.1): "cnf": {"jkt": JKT}.
	JKT string
	// Login is how the user logged in (auth_time, acr, amr); the zero
	// Login, for machine tokens, says nothing.
	Login Login
	// CertThumbprint binds the token to a client certificate (RFC 8705
	// §3.1): "cnf": {"x5t#S256": CertThumbprint}, beside jkt if both.
	CertThumbprint string
}

// ACRMultiFactor is the authentication context class of a login with
// the second step (the one-time code): Auth0's name for multi-factor
// authentication, which the issuer lists in acr_values_supported.
const ACRMultiFactor = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"

// Login is how a user authenticated, as tokens say it (OpenID Connect
// Core §2, RFC 9068 §2.2.1): "auth_time", "acr" and "amr". A refreshed
// token keeps the Login of the grant it descends from.
type Login struct {
	// Time is "auth_time", in whole seconds; zero omits it.
	Time time.Time
	// ACR is "acr": ACRMultiFactor after the second step, "" (omitted)
	// after the first alone, as Auth0 does.
	ACR string
	// AMR is "amr" (RFC 8176); nil omits it.
	AMR []string
}

// The amr of the issuer's logins: picking a user stands for a password,
// the one-time code for an OTP, and both together are multi-factor.
var (
	amrOneStep  = []string{"pwd"}
	amrTwoSteps = []string{"pwd", "otp", "mfa"}
)

// claims adds l's claims to c.
func (l Login) claims(c jwt.MapClaims) {
	if !l.Time.IsZero() {
		c["auth_time"] = l.Time.Unix()
	}
	if l.ACR != "" {
		c["acr"] = l.ACR
	}
	if l.AMR != nil {
		c["amr"] = l.AMR
	}
}

// AccessToken signs an RS256 access token (RFC 9068 "at+jwt") for g.
func (m *Minter) AccessToken(g Grant) (string, time.Time, error) {
	if g.Subject == "" {
		return "", time.Time{}, errors.New("access token needs a subject")
	}
	if g.TTL <= 0 || g.TTL > MaxTokenTTL {
		return "", time.Time{}, fmt.Errorf("token lifetime must be between 1s and %v", MaxTokenTTL)
	}
	now := m.now()
	exp := now.Add(g.TTL)
	aud := []string{m.Audience}
	if g.UserInfo {
		aud = append(aud, m.Issuer+"userinfo")
	}
	claims := jwt.MapClaims{
		"iss": m.Issuer,
		"sub": g.Subject,
		"aud": aud,
		"iat": now.Unix(),
		"exp": exp.Unix(),
		"jti": randomID(),
	}
	if g.ClientID != "" {
		claims["azp"] = g.ClientID
		claims["client_id"] = g.ClientID
	}
	if len(g.Scopes) > 0 {
		claims["scope"] = strings.Join(g.Scopes, " ")
	}
	if g.Permissions != nil {
		claims["permissions"] = g.Permissions
	}
	for k, v := range g.Extra {
		claims[k] = v
	}
	if g.JKT != "" || g.CertThumbprint != "" {
		cnf := map[string]any{}
		if g.JKT != "" {
			cnf["jkt"] = g.JKT
		}
		if g.CertThumbprint != "" {
			cnf["x5t#S256"] = g.CertThumbprint
		}
		claims["cnf"] = cnf
	}
	g.Login.claims(claims)
	tok, err := m.sign("at+jwt", claims)
	return tok, exp, err
}

// IDToken signs an OpenID Connect ID token for a user and a client.
func (m *Minter) IDToken(clientID, nonce string, id identity, login Login, ttl time.Duration) (string, error) {
	now := m.now()
	claims := jwt.MapClaims{
		"iss":      m.Issuer,
		"sub":      id.Subject,
		"aud":      clientID,
		"azp":      clientID,
		"iat":      now.Unix(),
		"exp":      now.Add(ttl).Unix(),
		"name":     id.Name,
		"nickname": id.Nickname(),
	}
	login.claims(claims)
	if id.Email != "" {
		claims["email"] = id.Email
		claims["email_verified"] = true
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	return m.sign("JWT", claims)
}

func (m *Minter) sign(typ string, claims jwt.MapClaims) (string, error) {
	key, err := m.Keys.signer()
	if err != nil {
		return "", err
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["typ"] = typ
	t.Header["kid"] = key.KID
	return t.SignedString(key.private)
}

func (m *Minter) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// identity is who logged in: a configured user or a typed-in subject.
type identity struct {
	Subject string
	Name    string
	Email   string
}

// Nickname is the part of the name or e-mail Auth0 would show.
func (i identity) Nickname() string {
	if at := strings.IndexByte(i.Email, '@'); at > 0 {
		return i.Email[:at]
	}
	return i.Name
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
