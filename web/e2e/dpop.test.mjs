// DPoP interoperability: the real API binary and proofs, keys and tokens
// made by code nobody here wrote.
//
//   - npm's dpop (panva) makes ES256, PS256, RS256 and Ed25519 (RFC 9864's name for EdDSA) keys
//     and proofs, for the development issuer's token endpoint (`api -dev`)
//     and for the API, with the API's nonces on;
//   - npm's oidc-provider (8.x, its dPoP feature) issues DPoP-bound access
//     tokens, as JWTs (AUTH_PROVIDER=oidc) and as opaque tokens the API
//     introspects (AUTH_PROVIDER=introspection, RFC 9449 §6.2).
//
//   node --test e2e/dpop.test.mjs
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as DPoP from 'dpop';
import Provider from 'oidc-provider';
import { apiEnv, buildApi, freePort, start, tempDir, waitFor, withLogs, checkWithLogs } from './helpers.mjs';

const AUDIENCE = 'https://interop.example/api';

let tmp, bin;
let dev, devUrl, issuerUrl; // api -dev
let oidc, oidcUrl; // oidc-provider's HTTP server and URL
let jwtApi, jwtApiUrl; // the API trusting oidc-provider's JWTs
let introApi, introApiUrl; // the API introspecting oidc-provider's opaque tokens

before(async () => {
  tmp = await tempDir('spaapi-dpop-');
  bin = buildApi(tmp);

  // The development issuer and the API, with the API's DPoP nonces on.
  const devPort = await freePort();
  const issuerPort = await freePort();
  devUrl = `http://localhost:${devPort}`;
  issuerUrl = `http://localhost:${issuerPort}`;
  const devDir = path.join(tmp, 'dev');
  await mkdir(devDir);
  dev = start('api -dev', bin, ['-dev', '-dev-dir', devDir, '-addr', `127.0.0.1:${devPort}`, '-dev-issuer-addr', `127.0.0.1:${issuerPort}`], {
    env: apiEnv({ DPOP_NONCE: 'on', DPOP_NONCE_SECRET: randomBytes(32).toString('base64') }),
  });

  // oidc-provider with DPoP: JWT access tokens for AUDIENCE, opaque ones
  // for the introspecting API's audience.
  const port = await freePort();
  oidcUrl = `http://127.0.0.1:${port}`;
  const provider = new Provider(oidcUrl, {
    clients: [
      { client_id: 'spaapi', client_secret: 'api-secret', grant_types: [], response_types: [], redirect_uris: [] },
      {
        client_id: 'machine', client_secret: 'machine-secret', grant_types: ['client_credentials'], response_types: [],
        redirect_uris: [], scope: 'read:messages',
      },
    ],
    scopes: ['read:messages'],
    cookies: { keys: ['dpop-interop-test-only'] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      dPoP: { enabled: true },
      resourceIndicators: {
        enabled: true,
        getResourceServerInfo: async (ctx, resource) => {
          if (resource === AUDIENCE) return { scope: 'read:messages', audience: AUDIENCE, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
          if (resource === `${AUDIENCE}/opaque`) return { scope: 'read:messages', audience: resource, accessTokenFormat: 'opaque' };
          throw new Error(`unknown resource ${resource}`);
        },
      },
    },
  });
  oidc = provider.listen(port, '127.0.0.1');

  const secretFile = path.join(tmp, 'secret');
  await writeFile(secretFile, 'api-secret\n', { mode: 0o600 });
  const jwtPort = await freePort();
  jwtApiUrl = `http://localhost:${jwtPort}`;
  jwtApi = start('api (oidc)', bin, [], {
    env: apiEnv({ AUTH_PROVIDER: 'oidc', ISSUER_BASE_URL: oidcUrl, AUDIENCE, ADDR: `127.0.0.1:${jwtPort}`, DATABASE_URL: 'memory:' }),
  });
  const introPort = await freePort();
  introApiUrl = `http://localhost:${introPort}`;
  introApi = start('api (introspection)', bin, [], {
    env: apiEnv({
      AUTH_PROVIDER: 'introspection', ISSUER_BASE_URL: oidcUrl, AUDIENCE: `${AUDIENCE}/opaque`, INTROSPECTION_CLIENT_ID: 'spaapi',
      INTROSPECTION_CLIENT_SECRET_FILE: secretFile, ADDR: `127.0.0.1:${introPort}`, DATABASE_URL: 'memory:',
    }),
  });
  try {
    await waitFor(`${devUrl}/readyz`, dev);
    await waitFor(`${jwtApiUrl}/readyz`, jwtApi);
    await waitFor(`${introApiUrl}/readyz`, introApi);
  } catch (e) {
    throw withLogs(e, [dev, jwtApi, introApi]);
  }
});

after(async () => {
  await dev?.stop();
  await jwtApi?.stop();
  await introApi?.stop();
  await new Promise((resolve) => (oidc ? oidc.close(resolve) : resolve()));
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

// check is a test whose failure shows the servers' output.
const check = checkWithLogs(() => [dev, jwtApi, introApi]);

// call sends GET url with a DPoP-bound token and a proof by keyPair (with
// nonce, if any); it returns status, the challenges and DPoP-Nonce.
async function call(url, token, keyPair, nonce) {
  const proof = await DPoP.generateProof(keyPair, url, 'GET', nonce, token);
  const res = await fetch(url, { headers: { Authorization: `DPoP ${token}`, DPoP: proof } });
  const body = await res.json().catch(() => undefined);
  return { status: res.status, challenge: res.headers.get('www-authenticate') ?? '', nonce: res.headers.get('dpop-nonce'), body, proof };
}

// callWithNonce is call that, like a client, retries once with the nonce a
// use_dpop_nonce answer gives.
async function callWithNonce(url, token, keyPair) {
  const first = await call(url, token, keyPair);
  if (first.status !== 401 || !first.challenge.includes('use_dpop_nonce')) return { first };
  assert.ok(first.nonce, 'a use_dpop_nonce answer carries DPoP-Nonce');
  return { first, retry: await call(url, token, keyPair, first.nonce) };
}

const payload = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

for (const alg of ['ES256', 'PS256', 'RS256', 'Ed25519']) {
  check(`npm dpop ${alg}: the dev issuer binds a token to the key, the API takes its proofs`, async () => {
    const keyPair = await DPoP.generateKeyPair(alg);
    const jkt = await DPoP.calculateThumbprint(keyPair.publicKey);

    // The token endpoint: client_credentials with a proof (no ath).
    const tokenUrl = `${issuerUrl}/oauth/token`;
    const res = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', DPoP: await DPoP.generateProof(keyPair, tokenUrl, 'POST') },
      body: new URLSearchParams({
        grant_type: 'client_credentials', client_id: 'dev-machine', client_secret: 'dev-machine-secret', audience: 'http://localhost:8080/api',
      }),
    });
    const t = await res.json();
    assert.equal(res.status, 200, JSON.stringify(t));
    assert.equal(t.token_type, 'DPoP');
    assert.equal(payload(t.access_token).cnf?.jkt, jkt, "cnf.jkt is npm dpop's thumbprint of the key");

    // The API: the first proof has no nonce (401 use_dpop_nonce), the retry passes.
    const url = `${devUrl}/api/private-scoped`;
    const { first, retry } = await callWithNonce(url, t.access_token, keyPair);
    assert.equal(first.status, 401);
    assert.match(first.challenge, /^DPoP error="use_dpop_nonce", error_description="DPoP nonce required: nonce", algs="ES256 ES384 PS256 RS256 EdDSA Ed25519"/);
    assert.equal(retry.status, 200, JSON.stringify(retry));
    assert.ok(retry.nonce, 'successful answers carry the nonce too');

    // The same proof again, and the token as a bearer token: refused.
    const replay = await fetch(url, { headers: { Authorization: `DPoP ${t.access_token}`, DPoP: retry.proof } });
    assert.equal(replay.status, 401);
    assert.match(replay.headers.get('www-authenticate'), /error="invalid_dpop_proof", error_description="DPoP proof already used: jti"/);
    const bearer = await fetch(url, { headers: { Authorization: `Bearer ${t.access_token}` } });
    assert.equal(bearer.status, 401);
    assert.match(bearer.headers.get('www-authenticate'), /^Bearer realm="api", error="invalid_token"/);
  });
}

// token gets a DPoP-bound access token from oidc-provider for resource.
async function oidcToken(keyPair, resource) {
  const url = `${oidcUrl}/token`;
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      Authorization: 'Basic ' + Buffer.from('machine:machine-secret').toString('base64'),
      DPoP: await DPoP.generateProof(keyPair, url, 'POST'),
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'read:messages', resource }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.token_type, 'DPoP');
  return body.access_token;
}

check("oidc-provider's DPoP-bound JWT works end to end (AUTH_PROVIDER=oidc)", async () => {
  const keyPair = await DPoP.generateKeyPair('ES256');
  const other = await DPoP.generateKeyPair('ES256');
  const t = await oidcToken(keyPair, AUDIENCE);
  assert.equal(payload(t).cnf?.jkt, await DPoP.calculateThumbprint(keyPair.publicKey));
  const url = `${jwtApiUrl}/api/private-scoped`;
  let r = await call(url, t, keyPair);
  assert.equal(r.status, 200, JSON.stringify(r));
  r = await call(url, t, other);
  assert.equal(r.status, 401);
  assert.match(r.challenge, /^DPoP error="invalid_token", error_description="access token is bound to another DPoP key: cnf.jkt"/);
  const bearer = await fetch(url, { headers: { Authorization: `Bearer ${t}` } });
  assert.equal(bearer.status, 401);
  assert.match(bearer.headers.get('www-authenticate'), /DPoP-bound access token sent with the Bearer scheme/);
});

check("oidc-provider's DPoP-bound opaque token works end to end (AUTH_PROVIDER=introspection)", async () => {
  // ES256: oidc-provider 8 knows Ed25519 proofs only by the name EdDSA,
  // and npm dpop 2 signs them as Ed25519.
  const keyPair = await DPoP.generateKeyPair('ES256');
  const t = await oidcToken(keyPair, `${AUDIENCE}/opaque`);
  assert.equal(t.split('.').length, 1, 'an opaque token');
  const url = `${introApiUrl}/api/private-scoped`;
  let r = await call(url, t, keyPair);
  assert.equal(r.status, 200, JSON.stringify(r));
  r = await call(url, t, await DPoP.generateKeyPair('ES256'));
  assert.equal(r.status, 401);
  assert.match(r.challenge, /access token is bound to another DPoP key/);
  const bearer = await fetch(url, { headers: { Authorization: `Bearer ${t}` } });
  assert.equal(bearer.status, 401);
  assert.match(bearer.headers.get('www-authenticate'), /DPoP-bound access token sent with the Bearer scheme/);
});
