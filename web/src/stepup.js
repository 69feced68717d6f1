// Step-up authentication (RFC 9470): an API answer of 401
// insufficient_user_authentication says what the next login must give
// (acr_values, max_age); the SPA logs the user in again with them and
// repeats the call once, after the redirect back.

const PENDING = 'spaapi.stepUp';

// stepUpNeed reads such an answer: from the JSON body the API sends, else
// from the WWW-Authenticate challenge (Bearer or DPoP). It returns
// { description, acrValues, maxAge } or null for any other answer.
export function stepUpNeed(res, body) {
  if (res.status !== 401) return null;
  if (body?.error === 'insufficient_user_authentication') {
    return {
      description: body.error_description || '',
      acrValues: body.acr_values || '',
      maxAge: typeof body.max_age === 'number' ? body.max_age : null,
    };
  }
  const p = challengeParams(res.headers.get('WWW-Authenticate') || '');
  if (p.error !== 'insufficient_user_authentication') return null;
  const maxAge = /^\d+$/.test(p.max_age ?? '') ? Number(p.max_age) : null;
  return { description: p.error_description || '', acrValues: p.acr_values || '', maxAge };
}

// challengeParams reads the auth-params of the first challenge in a
// WWW-Authenticate value (RFC 9110 §11.2): the scheme, then name=value
// pairs, quoted or not, separated by commas, read in order (so that a
// name inside another parameter's value is not taken for a parameter).
// The API puts the challenge with the error first.
function challengeParams(header) {
  const scheme = header.match(/^\s*[A-Za-z][\w.+-]*\s+/);
  if (!scheme) return {};
  const param = /([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]+))\s*(?:,\s*|$)/y;
  param.lastIndex = scheme[0].length;
  const out = {};
  for (let m; (m = param.exec(header)); ) {
    out[m[1]] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3];
  }
  return out;
}

// authorizationParams are what the new login asks of the identity
// provider: the challenge's acr_values and max_age (OpenID Connect Core
// §3.1.2.1).
export function authorizationParams(need) {
  const p = {};
  if (need.acrValues) p.acr_values = need.acrValues;
  if (need.maxAge !== null) p.max_age = need.maxAge;
  return p;
}

// The call to repeat once the user is back from the stronger login:
// { panel, method, path, payload }, kept in the redirect's appState and,
// between onRedirectCallback and the panel that made the call, here.
// Only a completed login hands it back, so a cancelled or failed one
// repeats nothing.
let pending = null;

export function setPendingStepUp(call) {
  pending = call || null;
}

// takePendingStepUp returns the call to repeat for panel, once.
export function takePendingStepUp(panel) {
  if (!pending || pending.panel !== panel) return null;
  const call = pending;
  pending = null;
  return call;
}

export { PENDING as STEP_UP_APP_STATE };
