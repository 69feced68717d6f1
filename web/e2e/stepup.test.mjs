// Step-up authentication interop (RFC 9470): the real API binary trusting
// npm's oidc-provider (AUTH_PROVIDER=oidc), which logs a user in by the
// authorization code flow with PKCE, honours max_age itself (an older
// session must log in again) and records the login's acr, amr and
// auth_time; its JWT access tokens carry them (RFC 9068 §2.2.1, through
// its extraTokenClaims hook). The API, with a STEP_UP rule on DELETE,
// refuses a weak or stale login with the standard challenge and accepts
// the login the challenge asks for.
//
//   node --test e2e/stepup.test.mjs
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { rm } from 'node:fs/promises';
import Provider from 'oidc-provider';
import { apiEnv, buildApi, checkWithLogs, freePort, start, tempDir, waitFor, withLogs } from './helpers.mjs';

const AUDIENCE = 'https://stepup.example/api';
const MFA = 'http://schemas.openid.net/pape/policies/2007/06/multi-factor';
const LOA1 = 'urn:example:loa:1';
const MAX_AGE = 6; // seconds: the rule's max_age, short so that the test can outlive it
const REDIRECT = 'http://127.0.0.1:9/callback'; // never fetched: the code is read from the redirect

let tmp, bin, server, provider, oidcUrl, api, apiUrl;
const interactions = []; // what oidc-provider asked its login page for, and why

before(async () => {
  tmp = await tempDir('spaapi-stepup-');
  bin = buildApi(tmp);

  const port = await freePort();
  oidcUrl = `http://127.0.0.1:${port}`;
  provider = new Provider(oidcUrl, {
    clients: [
      {
        client_id: 'spa', token_endpoint_auth_method: 'none', grant_types: ['authorization_code'],
        response_types: ['code'], redirect_uris: [REDIRECT],
      },
    ],
    scopes: ['read:messages', 'write:messages'],
    acrValues: [LOA1, MFA],
    cookies: { keys: [randomBytes(16).toString('hex')] },
    findAccount: async (ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
    features: {
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => AUDIENCE,
        useGrantedResource: () => true,
        getResourceServerInfo: async (ctx, resource) => {
          if (resource !== AUDIENCE) throw new Error(`unknown resource ${resource}`);
          return { scope: 'read:messages write:messages', audience: AUDIENCE, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
        },
      },
    },
    // A first-party client: no consent page, every scope granted.
    loadExistingGrant: async (ctx) => {
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid read:messages write:messages');
      grant.addResourceScope(AUDIENCE, 'read:messages write:messages');
      await grant.save();
      return grant;
    },
    // RFC 9068 §2.2.1: the access token says how the user logged in, as
    // oidc-provider recorded it on the code (from the session).
    extraTokenClaims: async (ctx) => {
      const code = ctx.oidc.entities.AuthorizationCode;
      return code ? { acr: code.acr, amr: code.amr, auth_time: code.authTime } : undefined;
    },
  });
  const callback = provider.callback();
  // The login page: the user is alice; she passes the second factor
  // when the client asks for MFA in acr_values.
  server = http.createServer(async (req, res) => {
    if (!req.url.startsWith('/interaction/')) return callback(req, res);
    try {
      const details = await provider.interactionDetails(req, res);
      if (details.prompt.name !== 'login') throw new Error(`unexpected prompt ${JSON.stringify(details.prompt)}`);
      const asked = (details.params.acr_values || '').split(' ');
      interactions.push({ prompt: details.prompt.name, reasons: details.prompt.reasons, acr_values: details.params.acr_values, max_age: details.params.max_age });
      const strong = asked.includes(MFA);
      await provider.interactionFinished(req, res, {
        login: { accountId: 'alice', acr: strong ? MFA : LOA1, amr: strong ? ['pwd', 'otp', 'mfa'] : ['pwd'] },
      }, { mergeWithLastSubmission: false });
    } catch (e) {
      res.statusCode = 500;
      res.end(String(e?.stack || e));
    }
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));

  const apiPort = await freePort();
  apiUrl = `http://localhost:${apiPort}`;
  api = start('api (oidc, STEP_UP)', bin, [], {
    env: apiEnv({
      AUTH_PROVIDER: 'oidc', ISSUER_BASE_URL: oidcUrl, AUDIENCE, ADDR: `127.0.0.1:${apiPort}`, DATABASE_URL: 'memory:',
      STEP_UP: `DELETE /api/messages/{id} acr=${MFA} max_age=${MAX_AGE}`,
    }),
  });
  try {
    await waitFor(`${apiUrl}/readyz`, api);
  } catch (e) {
    throw withLogs(e, [api]);
  }
});

after(async () => {
  await api?.stop();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const check = checkWithLogs(() => [api]);

// The browser: cookies by name (oidc-provider's paths and expiry are
// honoured enough for one user agent talking to one server).
const jar = new Map();
function keepCookies(res) {
  for (const c of res.headers.getSetCookie()) {
    const [pair, ...attrs] = c.split(';');
    const i = pair.indexOf('=');
    const name = pair.slice(0, i).trim();
    if (attrs.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a)) || pair.slice(i + 1) === '') jar.delete(name);
    else jar.set(name, pair.slice(i + 1));
  }
}

// login runs the authorization code flow with PKCE, as an SPA would after
// a refusal, with extra authorization parameters (acr_values, max_age,
// prompt), following redirects through the login page; it returns the
// access token and its claims.
async function login(extra = {}) {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  let url = `${oidcUrl}/auth?${new URLSearchParams({
    client_id: 'spa', response_type: 'code', redirect_uri: REDIRECT, scope: 'openid read:messages write:messages',
    resource: AUDIENCE, code_challenge: challenge, code_challenge_method: 'S256', state: 'st', ...extra,
  })}`;
  let code;
  for (let hops = 0; !code; hops++) {
    assert.ok(hops < 10, 'too many redirects');
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } });
    keepCookies(res);
    const location = res.headers.get('location');
    assert.ok(location, `${url}: ${res.status} without a redirect: ${await res.text()}`);
    const next = new URL(location, url);
    if (next.href.startsWith(REDIRECT)) {
      assert.equal(next.searchParams.get('error'), null, `authorization error: ${next.search}`);
      code = next.searchParams.get('code');
    }
    url = next.href;
  }
  const res = await fetch(`${oidcUrl}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: 'spa', code_verifier: verifier, resource: AUDIENCE }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return { token: body.access_token, claims: JSON.parse(Buffer.from(body.access_token.split('.')[1], 'base64url').toString()) };
}

async function post(token, text) {
  const res = await fetch(`${apiUrl}/api/messages`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  const body = await res.json();
  assert.equal(res.status, 201, JSON.stringify(body));
  return body.id;
}

async function del(token, id) {
  const res = await fetch(`${apiUrl}/api/messages/${id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
  const text = await res.text();
  return { status: res.status, challenge: res.headers.get('www-authenticate') || '', body: text ? JSON.parse(text) : undefined };
}

// params reads a challenge's auth-params.
function params(challenge) {
  return Object.fromEntries([...challenge.matchAll(/([a-z_]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
}

let weak; // alice's first login, one factor

check('a login without the second factor is refused with the RFC 9470 challenge; the message stays', async () => {
  weak = await login();
  assert.equal(weak.claims.acr, LOA1);
  assert.deepEqual(weak.claims.amr, ['pwd']);
  assert.equal(typeof weak.claims.auth_time, 'number');
  assert.deepEqual(interactions.map((x) => x.reasons), [['no_session']]);

  const id = await post(weak.token, 'posting asks nothing more');
  const refused = await del(weak.token, id);
  assert.equal(refused.status, 401);
  const p = params(refused.challenge);
  assert.match(refused.challenge, /^Bearer realm="api", error="insufficient_user_authentication", /);
  assert.equal(p.error_description, `a stronger login is required: acr ${MFA}; the token's acr is another`);
  assert.equal(p.acr_values, MFA);
  assert.equal(p.max_age, String(MAX_AGE));
  assert.deepEqual(refused.body, {
    error: 'insufficient_user_authentication', error_description: p.error_description, acr_values: MFA, max_age: MAX_AGE,
  });
});

check("the challenge's acr_values alone do not make oidc-provider log a fresh session in again: the API still refuses", async () => {
  // acr_values is a voluntary claim request (OpenID Connect Core §5.5.1.1):
  // oidc-provider answers from the live session, with its acr. The API
  // holds the line.
  const again = await login({ acr_values: MFA });
  assert.equal(again.claims.acr, LOA1);
  assert.equal(interactions.length, 1, 'no login page');
  const id = await post(again.token, 'still weak');
  assert.equal((await del(again.token, id)).status, 401);
});

let strong;

check('logging in again as the challenge asks (acr_values, prompt=login): the delete goes through', async () => {
  const id = await post(weak.token, 'delete me after the second factor');
  const p = params((await del(weak.token, id)).challenge);
  strong = await login({ acr_values: p.acr_values, max_age: p.max_age, prompt: 'login' });
  assert.equal(interactions.at(-1).acr_values, MFA);
  assert.equal(String(interactions.at(-1).max_age), String(MAX_AGE));
  assert.equal(strong.claims.acr, MFA);
  assert.deepEqual(strong.claims.amr, ['pwd', 'otp', 'mfa']);
  const done = await del(strong.token, id);
  assert.equal(done.status, 204, JSON.stringify(done));
  // Only the strong login changed anything: the weak one still cannot.
  const other = await post(weak.token, 'another');
  assert.equal((await del(weak.token, other)).status, 401);
  assert.equal((await del(strong.token, other)).status, 204);
});

check('once the login is older than max_age it is refused; max_age makes oidc-provider ask for a new login, which passes', async () => {
  const id = await post(strong.token, 'delete me later');
  // Outlive the rule's max_age (auth_time is in whole seconds).
  const wait = (strong.claims.auth_time + MAX_AGE + 1) * 1000 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const stale = await del(strong.token, id);
  assert.equal(stale.status, 401);
  const p = params(stale.challenge);
  assert.match(p.error_description, new RegExp(`^a more recent login is required: within ${MAX_AGE} seconds; the user logged in \\d+ seconds ago$`));
  assert.equal(p.max_age, String(MAX_AGE));

  // No prompt=login this time: the session is older than max_age, and
  // oidc-provider itself asks for the login (reason max_age).
  const before = interactions.length;
  const fresh = await login({ acr_values: p.acr_values, max_age: p.max_age });
  assert.equal(interactions.length, before + 1, 'oidc-provider showed its login page');
  assert.ok(interactions.at(-1).reasons.includes('max_age'), JSON.stringify(interactions.at(-1)));
  assert.ok(fresh.claims.auth_time > strong.claims.auth_time, `auth_time ${fresh.claims.auth_time} after ${strong.claims.auth_time}`);
  assert.equal(fresh.claims.acr, MFA);
  const done = await del(fresh.token, id);
  assert.equal(done.status, 204, JSON.stringify(done));
});
