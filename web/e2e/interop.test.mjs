// Interoperability: the real API binary against a third-party OpenID
// Connect issuer (npm's oauth2-mock-server), over real HTTP on loopback.
//
//   node --test e2e/interop.test.mjs
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { OAuth2Server } from 'oauth2-mock-server';
import { apiEnv, buildApi, freePort, start, tempDir, waitFor, withLogs, checkWithLogs } from './helpers.mjs';

const AUDIENCE = 'https://interop.example/api';

let mock; // the issuer
let api; // the API process
let apiUrl;
let tmp; // holds the API binary

before(async () => {
  tmp = await tempDir('spaapi-interop-');
  const bin = buildApi(tmp);

  mock = new OAuth2Server();
  await mock.issuer.keys.generate('RS256');
  await mock.start(0, '127.0.0.1');
  // The mock names itself http://localhost:PORT (no trailing slash) in its
  // discovery document and in every token's iss; the API must be told
  // exactly that.
  const discovery = await (await fetch(`${mock.issuer.url}/.well-known/openid-configuration`)).json();
  assert.equal(discovery.issuer, mock.issuer.url);

  const port = await freePort();
  apiUrl = `http://127.0.0.1:${port}`;
  api = start('api', bin, [], {
    env: apiEnv({ ISSUER_BASE_URL: mock.issuer.url, AUDIENCE, ADDR: `127.0.0.1:${port}`, DATABASE_URL: 'memory:' }),
  });
  try {
    await waitFor(`${apiUrl}/readyz`, api); // 200 once the mock's keys are loaded
  } catch (e) {
    throw withLogs(e, [api]);
  }
});

after(async () => {
  await api?.stop();
  await mock?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

// check is a test whose failure shows the servers' output.
const check = checkWithLogs(() => [api]);

// get calls the API, returning status, WWW-Authenticate and the JSON body.
async function get(path, token) {
  const res = await fetch(apiUrl + path, token ? { headers: { Authorization: `Bearer ${token}` } } : {});
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, challenge: res.headers.get('www-authenticate') ?? '', body };
}

// token has the mock build a token for AUDIENCE; change edits its claims.
function token(change = () => {}) {
  return mock.issuer.buildToken({
    scopesOrTransform: (header, payload) => {
      payload.sub = 'interop|user';
      payload.aud = AUDIENCE;
      change(payload);
    },
  });
}

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const decodePart = (part) => JSON.parse(Buffer.from(part, 'base64url').toString());

check('a valid token with read:messages passes /api/private and /api/private-scoped', async () => {
  const t = await token((p) => (p.scope = 'read:messages'));
  let r = await get('/api/private', t);
  assert.equal(r.status, 200, JSON.stringify(r));
  r = await get('/api/private-scoped', t);
  assert.equal(r.status, 200, JSON.stringify(r));
  assert.match(r.body.message, /read:messages/);
});

check('/api/me tells who the token says the caller is', async () => {
  const t = await token((p) => (p.scope = 'read:messages openid'));
  const r = await get('/api/me', t);
  assert.equal(r.status, 200, JSON.stringify(r));
  assert.equal(r.body.subject, 'interop|user');
  assert.equal(r.body.issuer, mock.issuer.url);
  assert.deepEqual(r.body.scopes, ['read:messages', 'openid']);
});

check('a valid token without the scope gets 403 insufficient_scope on /api/private-scoped', async () => {
  const t = await token();
  assert.equal((await get('/api/private', t)).status, 200);
  const r = await get('/api/private-scoped', t);
  assert.equal(r.status, 403, JSON.stringify(r));
  assert.match(r.challenge, /error="insufficient_scope"/);
  assert.match(r.challenge, /scope="read:messages"/);
  assert.equal(r.body.error, 'insufficient_scope');
});

check("a token from the mock's own /token endpoint (client_credentials), exactly as it makes them, works", async () => {
  // No hook: the mock's own claims (iss, iat, exp, nbf, scope, aud; no sub).
  const res = await fetch(`${mock.issuer.url}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'm2m', scope: 'read:messages', aud: AUDIENCE }),
  });
  assert.equal(res.status, 200);
  const { access_token } = await res.json();
  const r = await get('/api/private-scoped', access_token);
  assert.equal(r.status, 200, JSON.stringify(r));
});

check('an expired token gets 401 invalid_token', async () => {
  const now = Math.floor(Date.now() / 1000);
  const t = await token((p) => {
    p.scope = 'read:messages';
    p.iat = now - 7200;
    p.nbf = now - 7200;
    p.exp = now - 3600;
  });
  const r = await get('/api/private', t);
  assert.equal(r.status, 401, JSON.stringify(r));
  assert.match(r.challenge, /error="invalid_token"/);
  assert.equal(r.body.error, 'invalid_token');
  assert.equal(r.body.error_description, 'token expired');
});

check("a forged token (signed with a key not in the JWKS, carrying the mock's kid) gets 401 invalid_token", async () => {
  const [header, payload] = (await token((p) => (p.scope = 'read:messages'))).split('.');
  const { kid } = decodePart(header);
  assert.ok(kid, 'the mock sets a kid');
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const input = `${b64url({ alg: 'RS256', typ: 'JWT', kid })}.${payload}`;
  const forged = `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;

  const r = await get('/api/private', forged);
  assert.equal(r.status, 401, JSON.stringify(r));
  assert.match(r.challenge, /error="invalid_token"/);
  assert.equal(r.body.error, 'invalid_token');
  assert.equal(r.body.error_description, 'signature verification failed');
});

check('a token for another audience gets 401 invalid_token', async () => {
  const t = await token((p) => {
    p.scope = 'read:messages';
    p.aud = 'https://other.example/api';
  });
  const r = await get('/api/private', t);
  assert.equal(r.status, 401, JSON.stringify(r));
  assert.match(r.challenge, /error="invalid_token"/);
  assert.equal(r.body.error, 'invalid_token');
  assert.equal(r.body.error_description, 'audience not accepted');
});

check('no token gets 401 with bare challenges (Bearer, and DPoP: DPOP_MODE=allowed); /api/public needs none', async () => {
  let r = await get('/api/private');
  assert.equal(r.status, 401);
  // Two header fields, which fetch joins with ", ", each naming the
  // metadata at the well-known location of AUDIENCE's path (RFC 9728).
  const meta = `resource_metadata="${apiUrl}/.well-known/oauth-protected-resource/api"`;
  assert.equal(r.challenge, `Bearer realm="api", ${meta}, DPoP algs="ES256 ES384 PS256 RS256 EdDSA Ed25519", ${meta}`);
  r = await get('/api/public');
  assert.equal(r.status, 200);
});

// Last, because it adds a key that the mock would then also use for the
// tokens other tests build.
check('a key the issuer adds after start-up (rotation) is accepted within seconds', async () => {
  const { kid } = await mock.issuer.keys.generate('RS256');
  const t = await mock.issuer.buildToken({
    kid,
    scopesOrTransform: (header, payload) => {
      payload.sub = 'interop|user';
      payload.aud = AUDIENCE;
    },
  });
  // An unknown kid makes the API fetch the JWKS again, at most once per 5 s.
  const deadline = Date.now() + 15000;
  let r;
  while ((r = await get('/api/private', t)).status !== 200 && Date.now() < deadline) {
    assert.equal(r.body.error_description, 'signing key not found', JSON.stringify(r));
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.equal(r.status, 200, JSON.stringify(r));
});
