// Interoperability: the real API binary with AUTH_PROVIDER=introspection
// against a real, independent RFC 7662 endpoint: npm's oidc-provider (8.x,
// the line that supports Node 20) issuing opaque access tokens by
// client_credentials, and refresh tokens by the authorization code flow
// through its development sign-in pages, over real HTTP on loopback. The
// API finds the endpoint in the issuer's metadata and authenticates to it
// as a client.
//
//   node --test e2e/introspection.test.mjs
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Provider from 'oidc-provider';
import { apiEnv, buildApi, freePort, start, tempDir, waitFor, withLogs, checkWithLogs } from './helpers.mjs';

const AUDIENCE = 'https://interop.example/api';
const OTHER_API = 'https://other.example/api';
const WEBAPP_CALLBACK = 'http://127.0.0.1:9/callback'; // never fetched: the code is read from the redirect

let issuer; // the provider's URL
let provider; // its HTTP server
let api; // the API process
let apiUrl;
let badApi; // an API whose client secret is wrong
let badApiUrl;
let tmp;

const basic = (id, secret) => 'Basic ' + Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64');

before(async () => {
  tmp = await tempDir('spaapi-introspection-');
  const bin = buildApi(tmp);

  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  const oidc = new Provider(issuer, {
    clients: [
      // The API, as a resource server: it may only introspect.
      { client_id: 'spaapi', client_secret: 'api-secret', grant_types: [], response_types: [], redirect_uris: [] },
      // A machine client getting opaque access tokens.
      { client_id: 'machine', client_secret: 'machine-secret', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope: 'read:messages write:messages' },
      { client_id: 'shortlived', client_secret: 'shortlived-secret', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope: 'read:messages' },
      // A web application signing users in, with refresh tokens.
      { client_id: 'webapp', client_secret: 'webapp-secret', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], redirect_uris: [WEBAPP_CALLBACK] },
    ],
    scopes: ['openid', 'offline_access', 'read:messages', 'write:messages'],
    cookies: { keys: ['interop-test-only'] },
    features: {
      // The development sign-in and consent pages: any login, no password.
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // Opaque tokens for two resource servers: this API and another.
        getResourceServerInfo: async (ctx, resource) => {
          if (resource !== AUDIENCE && resource !== OTHER_API) throw new Error(`unknown resource ${resource}`);
          return { scope: 'read:messages write:messages', audience: resource, accessTokenFormat: 'opaque' };
        },
      },
    },
    ttl: { ClientCredentials: (ctx, token, client) => (client.clientId === 'shortlived' ? 2 : 600) },
  });
  provider = oidc.listen(port, '127.0.0.1');

  const secretFile = path.join(tmp, 'secret');
  await writeFile(secretFile, 'api-secret\n', { mode: 0o600 });
  const badSecretFile = path.join(tmp, 'bad-secret');
  await writeFile(badSecretFile, 'not-the-secret\n', { mode: 0o600 });
  const common = {
    AUTH_PROVIDER: 'introspection', ISSUER_BASE_URL: issuer, INTROSPECTION_CLIENT_ID: 'spaapi',
    AUDIENCE, INTROSPECTION_CACHE_TTL: '1s', DATABASE_URL: 'memory:', // two APIs: one SQLite file would be one process's
  };
  const apiPort = await freePort();
  apiUrl = `http://127.0.0.1:${apiPort}`;
  api = start('api', bin, [], { env: apiEnv({ ...common, INTROSPECTION_CLIENT_SECRET_FILE: secretFile, ADDR: `127.0.0.1:${apiPort}` }) });
  const badPort = await freePort();
  badApiUrl = `http://127.0.0.1:${badPort}`;
  badApi = start('api-bad-secret', bin, [], { env: apiEnv({ ...common, INTROSPECTION_CLIENT_SECRET_FILE: badSecretFile, ADDR: `127.0.0.1:${badPort}` }) });
  try {
    await waitFor(`${apiUrl}/readyz`, api); // 200 once the endpoint is discovered and takes the API's secret
    await waitFor(`${badApiUrl}/healthz`, badApi); // serving; its /readyz is 503 (the endpoint refuses its secret)
  } catch (e) {
    throw withLogs(e, [api, badApi]);
  }
});

after(async () => {
  await api?.stop();
  await badApi?.stop();
  await new Promise((resolve) => (provider ? provider.close(resolve) : resolve()));
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

// check is a test whose failure shows the servers' output.
const check = checkWithLogs(() => [api, badApi]);

async function get(base, p, token) {
  const res = await fetch(base + p, token ? { headers: { Authorization: `Bearer ${token}` } } : {});
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, challenge: res.headers.get('www-authenticate') ?? '', retryAfter: res.headers.get('retry-after'), body };
}

// token gets an opaque access token from the provider's /token endpoint.
async function token({ client = 'machine', scope = 'read:messages', resource = AUDIENCE } = {}) {
  const params = { grant_type: 'client_credentials', scope };
  if (resource) params.resource = resource;
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic(client, `${client}-secret`) },
    body: new URLSearchParams(params),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.access_token.split('.').length, 1, 'the provider issues opaque tokens, not JWTs');
  return body.access_token;
}

check('an opaque token with read:messages passes /api/private-scoped, and /api/me shows what the endpoint said', async () => {
  const t = await token();
  let r = await get(apiUrl, '/api/private-scoped', t);
  assert.equal(r.status, 200, JSON.stringify(r));
  assert.match(r.body.message, /read:messages/);
  r = await get(apiUrl, '/api/me', t);
  assert.equal(r.status, 200, JSON.stringify(r));
  assert.equal(r.body.issuer, issuer);
  assert.equal(r.body.client_id, 'machine');
  assert.deepEqual(r.body.audience, [AUDIENCE]);
  assert.deepEqual(r.body.scopes, ['read:messages']);
  assert.ok(Date.parse(r.body.expires_at) > Date.now() + 500_000, r.body.expires_at);
});

check('a token without the scope gets 403 insufficient_scope', async () => {
  const t = await token({ scope: 'write:messages' });
  assert.equal((await get(apiUrl, '/api/private', t)).status, 200);
  const r = await get(apiUrl, '/api/private-scoped', t);
  assert.equal(r.status, 403, JSON.stringify(r));
  assert.match(r.challenge, /error="insufficient_scope"/);
});

check("a token for another resource server gets 401 (the endpoint's aud is checked)", async () => {
  const r = await get(apiUrl, '/api/private', await token({ resource: OTHER_API }));
  assert.equal(r.status, 401, JSON.stringify(r));
  assert.match(r.challenge, /error="invalid_token"/);
  assert.equal(r.body.error_description, 'audience not accepted');
});

check('a token issued without a resource (no aud in the answer) gets 401: the answer must name this API', async () => {
  const r = await get(apiUrl, '/api/private', await token({ resource: null }));
  assert.equal(r.status, 401, JSON.stringify(r));
  assert.match(r.challenge, /error="invalid_token"/);
  assert.equal(r.body.error_description, 'required claim missing');
});

// refreshToken signs alice in to the webapp client through the provider's
// development pages (authorization code flow with PKCE, offline_access,
// consent) and returns the refresh token its /token endpoint issues.
async function refreshToken() {
  const jar = new Map(); // cookie name -> value, whatever the path
  const send = async (url, init = {}) => {
    const headers = { ...init.headers, Cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
    const res = await fetch(new URL(url, issuer), { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      jar.set(pair.slice(0, i), pair.slice(i + 1));
    }
    res.text = await res.text(); // for failure messages
    return res;
  };
  const form = (body) => ({ method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body) });
  const verifier = randomBytes(32).toString('base64url');
  let res = await send(`/auth?${new URLSearchParams({
    client_id: 'webapp', response_type: 'code', redirect_uri: WEBAPP_CALLBACK, scope: 'openid offline_access',
    prompt: 'consent', code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
  })}`);
  // Sign-in page, then consent page, each answered and resumed.
  for (const prompt of ['login', 'consent']) {
    assert.equal(res.status, 303, `to the ${prompt} page: ${res.text}`);
    const page = res.headers.get('location');
    assert.match(page, /^\/interaction\//);
    res = await send(page, form({ prompt, login: 'alice', password: 'any' }));
    assert.equal(res.status, 303, `after ${prompt}: ${res.text}`);
    res = await send(res.headers.get('location')); // back to /auth/:uid
  }
  assert.equal(res.status, 303, `to the callback: ${res.text}`);
  const callback = new URL(res.headers.get('location'));
  const code = callback.searchParams.get('code');
  assert.ok(code, `no code in ${callback}`);
  const tokenRes = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic('webapp', 'webapp-secret') },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: WEBAPP_CALLBACK, code_verifier: verifier }),
  });
  const body = await tokenRes.json();
  assert.equal(tokenRes.status, 200, JSON.stringify(body));
  assert.ok(body.refresh_token, `no refresh token in ${JSON.stringify(body)}`);
  return body.refresh_token;
}

check("a refresh token from the provider gets 401, though the provider's introspection says active", async () => {
  const t = await refreshToken();
  // The endpoint, asked as the API asks it, calls the refresh token active,
  // with no aud and no token_type: only the API's own checks refuse it.
  const res = await fetch(`${issuer}/token/introspection`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic('spaapi', 'api-secret') },
    body: new URLSearchParams({ token: t, token_type_hint: 'access_token' }),
  });
  const answer = await res.json();
  assert.equal(answer.active, true, JSON.stringify(answer));
  assert.equal(answer.aud, undefined, JSON.stringify(answer));
  assert.equal(answer.token_type, undefined, JSON.stringify(answer));
  for (const p of ['/api/private', '/api/private-scoped']) {
    const r = await get(apiUrl, p, t);
    assert.equal(r.status, 401, `${p}: ${JSON.stringify(r)}`);
    assert.match(r.challenge, /error="invalid_token"/);
    assert.equal(r.body.error, 'invalid_token');
    assert.equal(r.body.error_description, 'required claim missing');
  }
});

check('a token the provider never issued gets 401 token not active', async () => {
  const r = await get(apiUrl, '/api/private', 'Xq3vT0mB9dS2kLw7pZ1yR4nH6cJ8fA5eG0uI2oK4tMs');
  assert.equal(r.status, 401, JSON.stringify(r));
  assert.match(r.challenge, /error="invalid_token"/);
  assert.equal(r.body.error_description, 'token not active');
});

check('a revoked token is refused once the 1 s cache entry ends', async () => {
  const t = await token();
  assert.equal((await get(apiUrl, '/api/private', t)).status, 200);
  const res = await fetch(`${issuer}/token/revocation`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic('machine', 'machine-secret') },
    body: new URLSearchParams({ token: t, token_type_hint: 'access_token' }),
  });
  assert.equal(res.status, 200);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const r = await get(apiUrl, '/api/private', t);
  assert.equal(r.status, 401, JSON.stringify(r));
  assert.equal(r.body.error_description, 'token not active');
});

check('an expired token is refused', async () => {
  const t = await token({ client: 'shortlived' });
  assert.equal((await get(apiUrl, '/api/private', t)).status, 200);
  await new Promise((resolve) => setTimeout(resolve, 3500)); // its 2 s life, then the cache entry's end
  const r = await get(apiUrl, '/api/private', t);
  assert.equal(r.status, 401, JSON.stringify(r));
  assert.match(r.challenge, /error="invalid_token"/);
});

check("an API the endpoint does not authenticate is not ready, and answers 503 naming the endpoint, never 200", async () => {
  const ready = await get(badApiUrl, '/readyz');
  assert.equal(ready.status, 503, JSON.stringify(ready));
  const r = await get(badApiUrl, '/api/private', await token());
  assert.equal(r.status, 503, JSON.stringify(r));
  assert.ok(r.retryAfter, 'Retry-After is set');
  assert.equal(r.body.error_description, 'not available: the token introspection endpoint; retry shortly');
});

// Last: it stops the provider.
check('while the endpoint is down a new token gets 503 with Retry-After', async () => {
  const t = await token();
  await new Promise((resolve) => provider.close(resolve));
  provider = null;
  const r = await get(apiUrl, '/api/private', t);
  assert.equal(r.status, 503, JSON.stringify(r));
  assert.ok(r.retryAfter, 'Retry-After is set');
});
