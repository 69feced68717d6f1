import { useMemo } from 'react';
import { useAuth0 } from '@auth0/auth0-react';

// DPOP_NONCE_ID names, in the SDK's store, the DPoP nonces this API hands
// out (its DPoP-Nonce header), apart from the identity provider's.
const DPOP_NONCE_ID = 'spaapi-api';

// useApi returns the SDK's fetcher for the API at apiUrl: fetchWithAuth(path,
// init) gets the access token (getTokenSilently), sends it with the scheme
// its token_type says (DPoP, with a fresh proof for each request, or
// Bearer), keeps the API's DPoP-Nonce and retries once on use_dpop_nonce.
// It resolves to the Response, or rejects: with an SDK error (which has
// `error`, e.g. login_required) when there is no access token, with a
// TypeError when the request fails.
export function useApi(apiUrl) {
  const { createFetcher } = useAuth0();
  return useMemo(() => createFetcher({ baseUrl: apiUrl, dpopNonceId: DPOP_NONCE_ID }), [createFetcher, apiUrl]);
}

// tokenBinding reads, from the access token the SDK holds, how it is sent
// and what it is bound to: { type: 'DPoP' | 'Bearer', jkt }.
export async function tokenBinding(getAccessTokenSilently) {
  const { access_token: token, token_type: type } = await getAccessTokenSilently({ detailedResponse: true });
  let jkt;
  try {
    // A JWT's payload (the SPA does not verify it: the API does).
    const payload = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    jkt = payload?.cnf?.jkt;
  } catch {
    jkt = undefined; // an opaque token
  }
  return { type: type || 'Bearer', jkt };
}

// describeError turns an SDK error (which carries OAuth `error` and
// `error_description`) or any other exception into one line.
export function describeError(e) {
  if (e && e.error) return `${e.error}: ${e.error_description || e.message || ''}`;
  return String((e && e.message) || e);
}

// failure says why a call to the API got no answer: the SDK had no access
// token (its errors carry `error`), the API refused the DPoP nonce twice,
// or the request itself failed (network, CORS).
export function failure(e) {
  if (e?.error === 'use_dpop_nonce') return `the API refused the DPoP nonce twice: ${describeError(e)}`;
  if (e?.error) return `no access token: ${describeError(e)}`;
  return `request failed: ${describeError(e)}`;
}
