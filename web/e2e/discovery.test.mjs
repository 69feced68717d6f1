// Discovery by a real client: oauth4webapi (npm), knowing only the API's
// URL, starts from a 401, follows resource_metadata to the protected
// resource metadata (RFC 9728), validates it with the library's own
// protected-resource discovery, finds the authorization server (the
// development issuer, by RFC 8414 and by OpenID discovery), gets a token
// for the resource and calls the API: with Bearer, and with DPoP where
// the metadata says DPoP-bound tokens are required.
//
//   node --test e2e/discovery.test.mjs
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as oauth from 'oauth4webapi';
import openapiTS, { astToString } from 'openapi-typescript';
import createClient from 'openapi-fetch';
import { apiEnv, buildApi, freePort, start, tempDir, waitFor, checkWithLogs, webDir } from './helpers.mjs';

let tmp;
let bin;
const apis = []; // { proc, url, resource }

// tsc type-checks one TypeScript file strictly; it returns the exit code
// and what tsc printed.
function tsc(file) {
  const r = spawnSync(process.execPath, [path.join(webDir, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '--strict',
    '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--skipLibCheck', file], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

// startApi runs `api -dev` on free ports with the development issuer's
// audience set to the API's own URL + /api, so that the resource
// identifier (the audience) is where the client finds the API.
async function startApi(name, env) {
  const apiPort = await freePort();
  const issuerPort = await freePort();
  const url = `http://127.0.0.1:${apiPort}`;
  const devDir = path.join(tmp, name);
  await mkdir(devDir);
  const issuerAddr = `127.0.0.1:${issuerPort}`;
  // `api token` writes the default config.json; then the audience is edited.
  const r = spawnSync(bin, ['token', '-dev-dir', devDir, '-dev-issuer-addr', issuerAddr], { encoding: 'utf8', env: apiEnv({}) });
  assert.equal(r.status, 0, r.stderr);
  const configPath = path.join(devDir, 'config.json');
  const config = JSON.parse(await readFile(configPath, 'utf8'));
  config.audience = `${url}/api`;
  await writeFile(configPath, JSON.stringify(config, null, 2));
  const proc = start(name, bin, ['-dev', '-dev-dir', devDir, '-addr', `127.0.0.1:${apiPort}`, '-dev-issuer-addr', issuerAddr], {
    env: apiEnv({ RESOURCE_NAME: 'Discovery test API', ...env }),
  });
  const api = { proc, url, resource: `${url}/api` };
  apis.push(api);
  await waitFor(`${url}/readyz`, proc);
  return api;
}

let allowed; // DPOP_MODE=allowed (the default)
let required; // DPOP_MODE=required

before(async () => {
  tmp = await tempDir('spaapi-discovery-');
  bin = process.env.API_BIN || buildApi(tmp);
  allowed = await startApi('api-allowed', {});
  required = await startApi('api-required', { DPOP_MODE: 'required' });
});

after(async () => {
  for (const a of apis) await a.proc.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const check = checkWithLogs(() => apis.map((a) => a.proc));

// Loopback over http: the library asks for this to be said explicitly.
const insecure = { [oauth.allowInsecureRequests]: true };

// resourceMetadataURL reads resource_metadata from every challenge of a
// 401, which must all name the same URL.
function resourceMetadataURL(res) {
  const values = [...res.headers.get('www-authenticate').matchAll(/resource_metadata="([^"]+)"/g)].map((m) => m[1]);
  assert.ok(values.length > 0, `no resource_metadata in ${res.headers.get('www-authenticate')}`);
  assert.ok(values.every((v) => v === values[0]), `challenges disagree: ${values}`);
  return new URL(values[0]);
}

// discover is what a client knowing only the resource identifier does:
// call, read the challenge, fetch and validate the metadata, then the
// authorization server's metadata by the given algorithm.
async function discover(api, algorithm) {
  const resource = new URL(api.resource);
  const first = await fetch(`${api.url}/api/messages`);
  assert.equal(first.status, 401);
  const fromChallenge = resourceMetadataURL(first);

  // The library derives the metadata's location from the resource
  // identifier itself (RFC 9728 §3.1): it is the one the challenge names.
  const response = await oauth.resourceDiscoveryRequest(resource, insecure);
  assert.equal(response.url, fromChallenge.href);
  const rs = await oauth.processResourceDiscoveryResponse(resource, response);
  assert.equal(rs.resource, api.resource);
  assert.equal(rs.resource_name, 'Discovery test API');
  assert.deepEqual(rs.bearer_methods_supported, ['header']);
  assert.ok(rs.scopes_supported.includes('read:messages'), `scopes_supported: ${rs.scopes_supported}`);
  assert.equal(rs.authorization_servers.length, 1);

  const issuer = new URL(rs.authorization_servers[0]);
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm, ...insecure }));
  assert.equal(as.issuer, issuer.href);
  return { rs, as };
}

// tokenAndCall gets a client-credentials token for the resource with the
// scopes the metadata lists, DPoP-bound when the metadata requires it,
// and calls GET /api/messages with it.
async function tokenAndCall(api, rs, as) {
  const client = { client_id: 'dev-machine' };
  const auth = oauth.ClientSecretPost('dev-machine-secret');
  let DPoP;
  if (rs.dpop_bound_access_tokens_required) {
    assert.ok(rs.dpop_signing_alg_values_supported.includes('ES256'));
    const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
    DPoP = oauth.DPoP(client, keys);
  }
  const params = { audience: rs.resource, scope: rs.scopes_supported.join(' ') };
  const grant = () => oauth.clientCredentialsGrantRequest(as, client, auth, params, { DPoP, ...insecure });
  let tokenResponse;
  try {
    tokenResponse = await oauth.processClientCredentialsResponse(as, client, await grant());
  } catch (e) {
    if (!DPoP || !oauth.isDPoPNonceError(e)) throw e;
    tokenResponse = await oauth.processClientCredentialsResponse(as, client, await grant()); // with the nonce
  }
  assert.equal(tokenResponse.token_type.toLowerCase(), DPoP ? 'dpop' : 'bearer');
  const call = () => oauth.protectedResourceRequest(tokenResponse.access_token, 'GET', new URL(`${api.url}/api/messages`), undefined, undefined, { DPoP, ...insecure });
  const res = await call();
  const body = await res.text();
  assert.equal(res.status, 200, body);
  assert.ok(Array.isArray(JSON.parse(body).messages));
  return tokenResponse;
}

check('Bearer: from a 401 to the metadata, the issuer by RFC 8414 discovery, a token and a 200', async () => {
  const { rs, as } = await discover(allowed, 'oauth2');
  assert.equal(rs.dpop_bound_access_tokens_required, false);
  await tokenAndCall(allowed, rs, as);
});

check('Bearer: the same with OpenID Connect discovery of the issuer', async () => {
  const { rs, as } = await discover(allowed, 'oidc');
  await tokenAndCall(allowed, rs, as);
});

check('DPoP required: the metadata says so, and the client that follows it gets in with a DPoP-bound token', async () => {
  const { rs, as } = await discover(required, 'oauth2');
  assert.equal(rs.dpop_bound_access_tokens_required, true);
  const t = await tokenAndCall(required, rs, as);
  // A Bearer token is refused there: the metadata was right to say so.
  const res = await fetch(`${required.url}/api/messages`, { headers: { Authorization: `Bearer ${t.access_token}` } });
  assert.equal(res.status, 401);
  assert.match(res.headers.get('www-authenticate'), /resource_metadata="/);
});

check('a token without the scope: 403 insufficient_scope names the scope the route needs, and the metadata', async () => {
  const { rs, as } = await discover(allowed, 'oauth2');
  const client = { client_id: 'dev-machine' };
  const r = await oauth.processClientCredentialsResponse(as, client,
    await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretPost('dev-machine-secret'), { audience: rs.resource, scope: 'write:messages' }, insecure));
  const res = await fetch(`${allowed.url}/api/messages`, { headers: { Authorization: `Bearer ${r.access_token}` } });
  assert.equal(res.status, 403);
  const challenge = res.headers.get('www-authenticate');
  assert.match(challenge, /error="insufficient_scope"/);
  assert.match(challenge, /scope="read:messages"/);
  assert.match(challenge, new RegExp(`resource_metadata="${allowed.url}/.well-known/oauth-protected-resource/api"`));
});

check('/openapi.json is an OpenAPI 3.1 document naming the issuer and every scope of the metadata', async () => {
  const { rs } = await discover(allowed, 'oauth2');
  const res = await fetch(`${allowed.url}/openapi.json`);
  assert.equal(res.status, 200);
  const doc = await res.json();
  assert.equal(doc.openapi, '3.1.0');
  const flows = Object.values(doc.components.securitySchemes).filter((s) => s.type === 'oauth2');
  assert.equal(flows.length, 1);
  assert.equal(flows[0].flows.authorizationCode.tokenUrl, `${rs.authorization_servers[0]}oauth/token`);
  assert.deepEqual(Object.keys(flows[0].flows.authorizationCode.scopes).sort(), [...rs.scopes_supported].sort());
});

check('a generator builds a client from /openapi.json: openapi-typescript types, openapi-fetch calls, tsc refuses a route that is not there', async () => {
  const doc = await (await fetch(`${allowed.url}/openapi.json`)).json();
  // Inside web/ so that the generated code finds openapi-fetch's types.
  const dir = await mkdtemp(path.join(webDir, '.openapi-client-'));
  try {
    await writeFile(path.join(dir, 'api.d.ts'), astToString(await openapiTS(doc)));
    const use = (body) => `import createClient from 'openapi-fetch';
import type { paths } from './api.js';
const client = createClient<paths>({ baseUrl: 'http://127.0.0.1' });
export async function run(): Promise<string> {
${body}
}
`;
    await writeFile(path.join(dir, 'good.ts'), use(`  const { data, error } = await client.GET('/api/messages', { params: { query: { limit: 5 } } });
  if (error) return error.error + ': ' + error.error_description;
  const posted = await client.POST('/api/messages', { body: { text: 'hi' } });
  return (data?.messages[0]?.text ?? '') + (data?.next_cursor ?? '') + (posted.data?.id ?? '');`));
    const good = tsc(path.join(dir, 'good.ts'));
    assert.equal(good.status, 0, good.out);
    // The types are the document's, not any: a route, a parameter or a
    // field the document does not have is a compile error.
    for (const [name, body] of [
      ['no-route', `  await client.GET('/api/nothing');
  return '';`],
      ['no-param', `  await client.GET('/api/messages', { params: { query: { page: 2 } } });
  return '';`],
      ['no-field', `  const { data } = await client.GET('/api/messages');
  return data?.messages[0]?.title ?? '';`],
      ['bad-body', `  await client.POST('/api/messages', { body: { txt: 'hi' } });
  return '';`],
    ]) {
      await writeFile(path.join(dir, `${name}.ts`), use(body));
      const bad = tsc(path.join(dir, `${name}.ts`));
      assert.notEqual(bad.status, 0, `${name}: tsc accepted it:\n${body}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  // The same client at run time, with a token found by discovery.
  const { rs, as } = await discover(allowed, 'oauth2');
  const client = { client_id: 'dev-machine' };
  const t = await oauth.processClientCredentialsResponse(as, client,
    await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretPost('dev-machine-secret'), { audience: rs.resource, scope: rs.scopes_supported.join(' ') }, insecure));
  const api = createClient({ baseUrl: allowed.url, headers: { Authorization: `Bearer ${t.access_token}` } });
  const posted = await api.POST('/api/messages', { body: { text: 'from a generated client' } });
  assert.equal(posted.response.status, 201, JSON.stringify(posted.error));
  const listed = await api.GET('/api/messages', { params: { query: { limit: 5 } } });
  assert.equal(listed.response.status, 200);
  assert.equal(listed.data.messages[0].text, 'from a generated client');
  const refused = await createClient({ baseUrl: allowed.url }).GET('/api/messages');
  assert.equal(refused.response.status, 401);
  assert.equal(refused.error.error, 'unauthorized');
});
