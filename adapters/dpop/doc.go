// Package dpop checks DPoP proofs (RFC 9449): the per-request JWTs that
// bind an access token to a key its client holds, so that a stolen token is
// worthless without the key. It is provider-neutral: it sees the request's
// method and URL, its DPoP header values, the access token and the token's
// cnf.jkt, never an identity provider.
//
// Parts:
//
//   - Verifier (ports.ProofVerifier): every check of RFC 9449 §4.3 and §7.1
//     (see VerifyProof for the list and order: everything that costs no
//     signature check first, so a hostile proof costs about its parsing),
//     refusals as *domain.ProofError with stable dpop_* reasons. For token
//     endpoints (ports.TokenRequestProofs) the check is in two steps, the
//     signature and the jti coming once the client is authenticated.
//   - URLPolicy: the URL the client addressed, rebuilt from the request
//     under PUBLIC_URL or TRUSTED_PROXIES; forwarded headers are never
//     trusted by default.
//   - Nonces: stateless server nonces (§8), an HMAC of a time window, so
//     instances agree without sharing anything but the secret.
//   - FromEnv, URLPolicyFromEnv: the DPOP_* settings, errors naming the
//     variable.
//   - Thumbprint, AccessTokenHash: RFC 7638 and "ath", for issuers and tests.
//
// JWS handling: golang-jwt's signing methods verify the signatures; the
// compact form, header and claims are read here, because a DPoP proof
// carries its key in its header and every member must be matched exactly
// (golang-jwt's parser would decode "JTI" into a jti field, has no
// Ed25519 alg name, and cannot say which check failed). A client sends the
// same header with every proof, so accepted headers (algorithm, parsed key,
// thumbprint) are cached, bounded, by their exact encoding; the signature
// and claims of every proof are always checked.
//
// Replay: a proof's jti is recorded, per key thumbprint, in a
// ports.ReplayCache for as long as the proof could be accepted (its iat
// plus DPOP_IAT_OFFSET, plus DPOP_IAT_LEEWAY for instances whose clocks are
// behind), counted against its key's and its access token's shares.
// adapters/memory.ReplayCache serves one instance;
// adapters/redis.ReplayCache (REDIS_URL) every instance sharing the Redis.
//
// # How the HTTP layer calls it
//
// adapters/httpapi does not import this package (adapters meet through
// ports): it receives a ports.ProofVerifier (a *Verifier, bound in
// wire.go), the mode (DPOP_MODE: allowed, required, disabled; its own
// setting) and URLPolicy.HTU as a func(*http.Request) string. For a request
// to a protected route:
//
//  1. Read "Authorization: <scheme> <token>"; the scheme is Bearer or DPoP,
//     case-insensitively. With DPOP_MODE=disabled the DPoP scheme counts as
//     no credentials and DPoP headers are ignored.
//  2. Verify the access token as today (ports.TokenVerifier, cache
//     included); the principal carries its cnf.jkt.
//  3. Scheme Bearer: a token with cnf.jkt is refused (401 invalid_token:
//     no downgrade), and with DPOP_MODE=required every Bearer token is.
//  4. Scheme DPoP: call VerifyProof on every request (the token cache never
//     skips the proof), as below.
//  5. Answer a *domain.ProofError by its Code(): invalid_request: 400;
//     invalid_dpop_proof, use_dpop_nonce, invalid_token: 401;
//     temporarily_unavailable: 503 with Retry-After (it wraps
//     domain.ErrUnavailable: never let the request through);
//     too_many_proofs: 429 with Retry-After and no challenge (the key or
//     token has its share of the replay cache; its credentials are good).
//     Retry-After is the error's RetryAfter when set. The challenge
//     is below; for use_dpop_nonce add a DPoP-Nonce header. A refused
//     access token sent with the DPoP scheme gets the DPoP challenge with
//     error="invalid_token". Count and log the Reason (all dpop_*), never
//     the proof or the token.
//  6. No credentials: in allowed mode two challenges, one header field
//     each, `Bearer realm="api"` and `DPoP algs="ES256 …"`; in required
//     mode only the DPoP one; in disabled mode only the Bearer one.
//  7. With nonces on (Nonce() != ""), send "DPoP-Nonce: " + Nonce() on
//     every answer to a DPoP request, successes included, so that clients
//     pick up the next nonce as the window turns. Nonce() is cached per
//     window.
//  8. CORS: preflights allow the "DPoP" request header; answers expose
//     "DPoP-Nonce" (and WWW-Authenticate, as now).
//
// The call (step 4):
//
//	err := proofs.VerifyProof(ctx, ports.ProofRequest{
//		Method:      r.Method,
//		URL:         htu(r),
//		Proofs:      r.Header.Values("DPoP"),
//		AccessToken: token,
//		JKT:         principal.JKT,
//	})
//
// The challenge (step 5), with error = Code(), error_description =
// Describe() and algs = strings.Join(Algorithms(), " "), quoted as RFC 6750
// §3 says (only %x20-21 / %x23-5B / %x5D-7E inside the quotes):
//
//	WWW-Authenticate: DPoP error="invalid_dpop_proof", error_description="DPoP proof iat too old: iat", algs="ES256 ES384 PS256 RS256 EdDSA Ed25519"
//	DPoP-Nonce: <Nonce(), for use_dpop_nonce and, with nonces on, every DPoP answer>
package dpop
