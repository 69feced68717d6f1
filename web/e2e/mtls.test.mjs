// Certificate-bound access tokens (RFC 8705) across independent peers: the
// real API binary, tokens issued by npm's oidc-provider (its mTLS features:
// certificate-bound access tokens, self_signed_tls_client_auth) over its
// own TLS token endpoint, client certificates made by openssl, and Debian's
// nginx and HAProxy terminating TLS in front of the API and passing the
// certificate.
//
//   node --test e2e/mtls.test.mjs
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import Provider from 'oidc-provider';
import { apiEnv, buildApi, checkWithLogs, freePort, start, tempDir, waitFor, withLogs } from './helpers.mjs';

const AUDIENCE = 'https://interop.example/mtls-api';

let tmp, bin;
let pki; // PEM files: ca, server (for localhost), clients a and b (self-signed)
let oidc, oidcUrl; // oidc-provider over HTTPS, asking for client certificates
let direct, directUrl; // the API serving HTTPS itself, TLS_CLIENT_CERTS=request
let behind, nginx, nginxUrl; // the API on plain HTTP behind nginx
let behindHA, haproxy, haproxyUrl; // the API on plain HTTP behind HAProxy (RFC 9440's Client-Cert)

// openssl runs openssl in tmp.
function openssl(...args) {
  const r = spawnSync('openssl', args, { cwd: tmp, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

async function makePKI() {
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=mtls interop CA');
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  await writeFile(path.join(tmp, 'server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '1', '-extfile', 'server.ext');
  for (const c of ['a', 'b']) {
    openssl('req', '-x509', ...ec, '-keyout', `${c}.key`, '-out', `${c}.pem`, '-days', '1', '-subj', `/CN=machine client ${c}`);
  }
  const read = async (f) => readFile(path.join(tmp, f), 'utf8');
  return {
    file: (f) => path.join(tmp, f),
    ca: await read('ca.pem'),
    server: { cert: await read('server.pem'), key: await read('server.key') },
    a: { cert: await read('a.pem'), key: await read('a.key') },
    b: { cert: await read('b.pem'), key: await read('b.key') },
  };
}

// request sends an HTTPS (or HTTP) request, trusting pki.ca, presenting
// the client certificate client ({cert, key}) if given.
function request(url, { method = 'GET', headers = {}, body, client } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const opts = { method, headers, ca: pki.ca, ...(client ?? {}), agent: false };
    const req = mod.request(u, opts, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error(`${url}: timeout`)));
    if (body) req.write(body);
    req.end();
  });
}

// waitHTTPS polls url (HTTPS, trusting pki.ca) until it answers 200.
async function waitHTTPS(url, proc) {
  const deadline = Date.now() + 30000;
  let last = 'no answer';
  for (;;) {
    if (proc.status() !== 'running') throw new Error(`${proc.name} ${proc.status()} while waiting for ${url}`);
    try {
      const r = await request(url);
      if (r.status === 200) return;
      last = `status ${r.status}`;
    } catch (e) {
      last = e.code || e.message;
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 (last: ${last})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// jwkOf is a client's certificate as a JWK with x5c, for
// self_signed_tls_client_auth (RFC 8705 §2.2.2).
function jwkOf(certPEM) {
  const x = new X509Certificate(certPEM);
  return { ...x.publicKey.export({ format: 'jwk' }), x5c: [x.raw.toString('base64')] };
}

before(async () => {
  tmp = await tempDir('spaapi-mtls-');
  bin = buildApi(tmp);
  pki = await makePKI();

  // oidc-provider, over HTTPS, asking for client certificates: "machine"
  // authenticates with a secret, "machine-self" with its self-signed
  // certificate; both get tokens bound to the certificate presented.
  const port = await freePort();
  oidcUrl = `https://localhost:${port}`;
  const provider = new Provider(oidcUrl, {
    clients: [
      {
        client_id: 'machine', client_secret: 'machine-secret', grant_types: ['client_credentials'], response_types: [],
        redirect_uris: [], scope: 'read:messages', tls_client_certificate_bound_access_tokens: true,
      },
      {
        client_id: 'machine-self', token_endpoint_auth_method: 'self_signed_tls_client_auth', grant_types: ['client_credentials'],
        response_types: [], redirect_uris: [], scope: 'read:messages', tls_client_certificate_bound_access_tokens: true,
        jwks: { keys: [jwkOf(pki.a.cert)] },
      },
    ],
    clientAuthMethods: ['client_secret_basic', 'self_signed_tls_client_auth'],
    scopes: ['read:messages'],
    cookies: { keys: ['mtls-interop-test-only'] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      mTLS: {
        enabled: true,
        certificateBoundAccessTokens: true,
        selfSignedTlsClientAuth: true,
        getCertificate(ctx) {
          const peer = ctx.socket.getPeerCertificate?.();
          return peer?.raw ? new X509Certificate(peer.raw) : undefined;
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => AUDIENCE,
        getResourceServerInfo: async (ctx, resource) => {
          if (resource === AUDIENCE) return { scope: 'read:messages', audience: AUDIENCE, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
          throw new Error(`unknown resource ${resource}`);
        },
      },
    },
  });
  oidc = https
    .createServer({ ...pki.server, requestCert: true, rejectUnauthorized: false }, provider.callback())
    .listen(port, '127.0.0.1');

  // The API trusts oidc-provider (its HTTPS by SSL_CERT_FILE: the test CA).
  const common = { AUTH_PROVIDER: 'oidc', ISSUER_BASE_URL: oidcUrl, AUDIENCE, DATABASE_URL: 'memory:', SSL_CERT_FILE: pki.file('ca.pem') };
  const directPort = await freePort();
  directUrl = `https://localhost:${directPort}`;
  direct = start('api (TLS, client certificates)', bin, [], {
    env: apiEnv({
      ...common, ADDR: `127.0.0.1:${directPort}`, TLS_CERT_FILE: pki.file('server.pem'), TLS_KEY_FILE: pki.file('server.key'),
      TLS_CLIENT_CERTS: 'request',
    }),
  });

  // nginx terminates TLS, asks for a certificate (never verified against
  // a CA: bound by thumbprint) and passes it as URL-encoded PEM.
  const behindPort = await freePort();
  behind = start('api (behind nginx)', bin, [], {
    env: apiEnv({ ...common, ADDR: `127.0.0.1:${behindPort}`, TRUSTED_PROXIES: '127.0.0.1', CLIENT_CERT_HEADER: 'X-SSL-Client-Cert' }),
  });
  const nginxPort = await freePort();
  nginxUrl = `https://localhost:${nginxPort}`;
  await writeFile(
    path.join(tmp, 'nginx.conf'),
    `daemon off;
worker_processes 1;
pid ${tmp}/nginx.pid;
error_log ${tmp}/nginx-error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${tmp}/nginx-body;
  proxy_temp_path ${tmp}/nginx-proxy;
  fastcgi_temp_path ${tmp}/nginx-fastcgi;
  uwsgi_temp_path ${tmp}/nginx-uwsgi;
  scgi_temp_path ${tmp}/nginx-scgi;
  server {
    listen 127.0.0.1:${nginxPort} ssl;
    ssl_certificate ${pki.file('server.pem')};
    ssl_certificate_key ${pki.file('server.key')};
    ssl_verify_client optional_no_ca;
    location / {
      proxy_pass http://127.0.0.1:${behindPort};
      proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`,
  );
  nginx = start('nginx', '/usr/sbin/nginx', ['-p', tmp, '-e', `${tmp}/nginx-error.log`, '-c', path.join(tmp, 'nginx.conf')]);

  // HAProxy writes RFC 9440's Client-Cert itself (a byte sequence of the
  // DER), which the API reads by default; it asks for a certificate and
  // takes a self-signed one (the errors of its check ignored).
  const haPort = await freePort();
  behindHA = start('api (behind haproxy)', bin, [], {
    env: apiEnv({ ...common, ADDR: `127.0.0.1:${haPort}`, TRUSTED_PROXIES: '127.0.0.1' }),
  });
  const haproxyPort = await freePort();
  haproxyUrl = `https://localhost:${haproxyPort}`;
  await writeFile(path.join(tmp, 'server-combined.pem'), pki.server.cert + pki.server.key);
  await writeFile(
    path.join(tmp, 'haproxy.cfg'),
    `global
  maxconn 64
defaults
  mode http
  timeout connect 5s
  timeout client 10s
  timeout server 10s
frontend tls
  bind 127.0.0.1:${haproxyPort} ssl crt ${tmp}/server-combined.pem verify optional ca-file ${pki.file('ca.pem')} ca-ignore-err all crt-ignore-err all
  http-request del-header Client-Cert
  http-request set-header Client-Cert :%[ssl_c_der,base64]: if { ssl_c_used }
  default_backend api
backend api
  server api 127.0.0.1:${haPort}
`,
  );
  haproxy = start('haproxy', '/usr/sbin/haproxy', ['-db', '-f', path.join(tmp, 'haproxy.cfg')]);
  try {
    await waitHTTPS(`${directUrl}/readyz`, direct);
    await waitFor(`http://127.0.0.1:${behindPort}/readyz`, behind);
    await waitHTTPS(`${nginxUrl}/readyz`, nginx);
    await waitFor(`http://127.0.0.1:${haPort}/readyz`, behindHA);
    await waitHTTPS(`${haproxyUrl}/readyz`, haproxy);
  } catch (e) {
    throw withLogs(e, [direct, behind, nginx, behindHA, haproxy]);
  }
});

after(async () => {
  await direct?.stop();
  await behind?.stop();
  await nginx?.stop();
  await behindHA?.stop();
  await haproxy?.stop();
  await new Promise((resolve) => (oidc ? oidc.close(resolve) : resolve()));
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const check = checkWithLogs(() => [direct, behind, nginx, behindHA, haproxy]);

const payload = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
// thumbprint is a certificate's x5t#S256 (RFC 8705 §3.1).
const thumbprint = (certPEM) => createHash('sha256').update(new X509Certificate(certPEM).raw).digest('base64url');

// token asks oidc-provider's TLS token endpoint for a client_credentials
// token, presenting client's certificate; secret: client_secret_basic,
// else self_signed_tls_client_auth.
async function token(clientID, client, secret) {
  const headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
  const form = { grant_type: 'client_credentials', scope: 'read:messages', resource: AUDIENCE };
  if (secret) headers.Authorization = 'Basic ' + Buffer.from(`${clientID}:${secret}`).toString('base64');
  else form.client_id = clientID;
  const r = await request(`${oidcUrl}/token`, { method: 'POST', headers, body: new URLSearchParams(form).toString(), client });
  assert.equal(r.status, 200, r.body);
  const t = JSON.parse(r.body);
  assert.equal(t.token_type, 'Bearer');
  return t.access_token;
}

// wantRefused checks a 401 invalid_token answer naming the certificate.
function wantRefused(r, description) {
  assert.equal(r.status, 401, r.body);
  // The Bearer challenge first (node joins the DPoP one after it).
  const want = `Bearer realm="api", error="invalid_token", error_description="${description}"`;
  assert.ok(r.headers['www-authenticate']?.startsWith(want), `WWW-Authenticate: got ${r.headers['www-authenticate']}, want ${want} first`);
  assert.equal(JSON.parse(r.body).error, 'invalid_token');
}
const missing = 'access token is bound to a client certificate (cnf x5t#S256); the request came with none';
const mismatch = 'access token is bound to another client certificate (cnf x5t#S256)';

for (const [name, clientID, secret] of [
  ['client_secret_basic', 'machine', 'machine-secret'],
  ['self_signed_tls_client_auth', 'machine-self', undefined],
]) {
  check(`oidc-provider (${name}) binds the token to the certificate; the API over its own TLS takes it only with that certificate`, async () => {
    const t = await token(clientID, pki.a, secret);
    assert.equal(payload(t).cnf?.['x5t#S256'], thumbprint(pki.a.cert), "cnf x5t#S256 is the certificate's thumbprint");
    const url = `${directUrl}/api/private-scoped`;
    const auth = { Authorization: `Bearer ${t}` };
    const r = await request(url, { headers: auth, client: pki.a });
    assert.equal(r.status, 200, r.body);
    wantRefused(await request(url, { headers: auth }), missing);
    wantRefused(await request(url, { headers: auth, client: pki.b }), mismatch);
    // Client-Cert from a client that is not a trusted proxy: ignored.
    const forged = `:${new X509Certificate(pki.a.cert).raw.toString('base64')}:`;
    wantRefused(await request(url, { headers: { ...auth, 'Client-Cert': forged } }), missing);
  });
}

check('oidc-provider refuses self_signed_tls_client_auth with an unregistered certificate', async () => {
  const r = await request(`${oidcUrl}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'machine-self', resource: AUDIENCE }).toString(),
    client: pki.b,
  });
  assert.equal(r.status, 401, r.body);
});

check('behind nginx (the certificate passed as URL-encoded PEM from a trusted proxy): the bound token only with its certificate', async () => {
  const t = await token('machine', pki.a, 'machine-secret');
  const url = `${nginxUrl}/api/private-scoped`;
  const auth = { Authorization: `Bearer ${t}` };
  const r = await request(url, { headers: auth, client: pki.a });
  assert.equal(r.status, 200, r.body);
  wantRefused(await request(url, { headers: auth }), missing);
  wantRefused(await request(url, { headers: auth, client: pki.b }), mismatch);
  // A client writing the header itself: nginx replaces it with its own (none).
  const forged = encodeURIComponent(pki.a.cert);
  wantRefused(await request(url, { headers: { ...auth, 'X-SSL-Client-Cert': forged } }), missing);
});

check("behind HAProxy (RFC 9440's Client-Cert from a trusted proxy): the bound token only with its certificate", async () => {
  const t = await token('machine-self', pki.a);
  const url = `${haproxyUrl}/api/private-scoped`;
  const auth = { Authorization: `Bearer ${t}` };
  const r = await request(url, { headers: auth, client: pki.a });
  assert.equal(r.status, 200, r.body);
  wantRefused(await request(url, { headers: auth }), missing);
  wantRefused(await request(url, { headers: auth, client: pki.b }), mismatch);
  // A client writing Client-Cert itself: HAProxy deletes it.
  const forged = `:${new X509Certificate(pki.a.cert).raw.toString('base64')}:`;
  wantRefused(await request(url, { headers: { ...auth, 'Client-Cert': forged } }), missing);
});
