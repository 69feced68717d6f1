// Browser end to end: the SPA (vite build + vite preview on :5173), the API
// with its development issuer (`api -dev`, DPoP nonces on), and headless
// Chromium logging in as alice and bob on the issuer's login page. The SPA
// uses DPoP (as web/.env says): its tokens are bound to a key the browser
// keeps, and a token taken out of the page is worthless without it.
//
//   node --test e2e/browser.test.mjs
//
// Environment: API_BIN=<path> uses that API binary instead of building
// ./cmd/api; CHROMIUM=<path> another browser than /usr/bin/chromium.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';
import * as DPoP from 'dpop';
import { apiEnv, buildApi, freePort, start, tempDir, waitFor, webDir, withLogs } from './helpers.mjs';

const SPA = 'http://localhost:5173'; // registered with the dev issuer and allowed by the API's CORS
const AUDIENCE = 'http://localhost:8080/api'; // the dev issuer's default API audience
const MFA = 'http://schemas.openid.net/pape/policies/2007/06/multi-factor'; // the dev issuer's second step
const MFA_RE = MFA.replace(/[.]/g, '\\.'); // for RegExps
// The README's screenshot is rewritten only on request (UPDATE_SCREENSHOT=1),
// so running the tests leaves the working tree clean.
const SCREENSHOT = process.env.UPDATE_SCREENSHOT
  ? path.join(webDir, 'docs', 'screenshot.png')
  : path.join(webDir, 'test-output', 'screenshot.png');
const FAILURES = path.join(webDir, 'test-output');

let tmp, api, vite, browser, page;
let issuerUrl, apiUrl, bin, devDir, issuerAddr;
const consoleLog = []; // the page's console and errors, shown on failure
const apiExchanges = []; // every API request from the page: { method, path, status, challenge, headers }

before(async () => {
  tmp = await tempDir('spaapi-browser-');
  bin = process.env.API_BIN || buildApi(tmp);

  const apiPort = await freePort();
  const issuerPort = await freePort();
  apiUrl = `http://localhost:${apiPort}`;
  issuerUrl = `http://localhost:${issuerPort}`;
  devDir = path.join(tmp, 'dev'); // gets keys, a default config.json and messages.db
  issuerAddr = `127.0.0.1:${issuerPort}`;
  await mkdir(devDir);
  // DPoP nonces on, so that the SDK's fetcher has to pick them up and retry.
  api = start('api', bin, ['-dev', '-dev-dir', devDir, '-addr', `127.0.0.1:${apiPort}`, '-dev-issuer-addr', issuerAddr], {
    env: apiEnv({ DPOP_NONCE: 'on', DPOP_NONCE_SECRET: createHash('sha256').update(String(Math.random())).digest('hex') }),
  });

  try {
    await waitFor(`${apiUrl}/readyz`, api); // the API has the dev issuer's keys
    const discovery = await (await fetch(`${issuerUrl}/.well-known/openid-configuration`)).json();
    assert.equal(discovery.issuer, `${issuerUrl}/`, 'the dev issuer names itself http://localhost:PORT/');

    // Build the SPA for these ports (process env wins over web/.env), then serve it.
    const viteBin = path.join(webDir, 'node_modules', 'vite', 'bin', 'vite.js');
    const dist = path.join(tmp, 'dist');
    const build = spawnSync(process.execPath, [viteBin, 'build', '--outDir', dist, '--emptyOutDir'], {
      cwd: webDir,
      encoding: 'utf8',
      env: {
        ...process.env,
        VITE_AUTH0_DOMAIN: issuerUrl,
        VITE_AUTH0_CLIENT_ID: 'dev-spa',
        VITE_AUTH0_AUDIENCE: AUDIENCE,
        VITE_API_URL: apiUrl,
        VITE_USE_DPOP: 'true',
      },
    });
    if (build.status !== 0) throw new Error(`vite build failed:\n${build.stdout}${build.stderr}`);
    vite = start('vite', process.execPath, [viteBin, 'preview', '--outDir', dist, '--port', '5173', '--strictPort'], {
      cwd: webDir,
    });
    await waitFor(`${SPA}/`, vite);

    const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
    if (!existsSync(executablePath)) {
      throw new Error(`no browser at ${executablePath}: apt-get install -y chromium (or set CHROMIUM)`);
    }
    browser = await chromium.launch({
      executablePath,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    });
    page = await (await browser.newContext({ viewport: { width: 1000, height: 800 } })).newPage();
    page.setDefaultTimeout(15000);
    page.on('console', (m) => consoleLog.push(`[console.${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLog.push(`[pageerror] ${e.message}`));
    page.on('requestfailed', (r) => consoleLog.push(`[requestfailed] ${r.url()} ${r.failure()?.errorText}`));
    page.on('response', async (res) => {
      const req = res.request();
      if (!req.url().startsWith(`${apiUrl}/api/`) || req.method() === 'OPTIONS') return;
      apiExchanges.push({
        method: req.method(),
        path: new URL(req.url()).pathname,
        status: res.status(),
        challenge: res.headers()['www-authenticate'] || '',
        nonce: res.headers()['dpop-nonce'] || '',
        headers: await req.allHeaders(),
      });
    });
  } catch (e) {
    throw withLogs(e, [api, vite]);
  }
});

after(async () => {
  await browser?.close();
  await vite?.stop();
  await api?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

// step is a test whose failure saves the page (test-output/) and shows the
// processes' output and the browser console.
function step(name, fn) {
  test(name, async (t) => {
    try {
      await fn(t);
    } catch (e) {
      if (page) {
        const base = path.join(FAILURES, name.replace(/\W+/g, '-'));
        await mkdir(FAILURES, { recursive: true });
        await page.screenshot({ path: `${base}.png`, fullPage: true }).catch(() => {});
        await writeFile(`${base}.html`, `<!-- ${page.url()} -->\n${await page.content().catch(() => '')}`);
      }
      const err = withLogs(e, [api, vite]);
      err.message += `\n----- browser (at ${page?.url()}) -----\n${consoleLog.join('\n')}`;
      throw err;
    }
  });
}

// call clicks one of the SPA's API buttons, waits for its answer and
// returns the text of the result element.
async function call(testid, apiPath) {
  await page.getByTestId(testid).click();
  await page.waitForFunction((prefix) => {
    const el = document.querySelector('[data-testid="result"]');
    return el && el.dataset.status !== 'pending' && el.textContent.startsWith(prefix);
  }, `GET ${apiPath} → `);
  return page.getByTestId('result').textContent();
}

// login clicks Log in, picks user on the issuer's page and waits to be back.
async function login(user) {
  await page.getByTestId('login').click();
  await page.waitForURL((u) => u.origin === issuerUrl && u.pathname === '/authorize');
  await page.getByTestId(`login-user-${user}`).click();
  await page.waitForURL((u) => u.origin === SPA);
  await page.getByTestId('user').waitFor();
}

step('the SPA loads logged out and calls the public endpoint', async () => {
  await page.goto(SPA);
  await page.getByTestId('login').waitFor();
  assert.equal(await page.getByTestId('user').count(), 0);
  assert.match(await call('call-public', '/api/public'), /→ 200 OK[\s\S]*Hello from a public endpoint/);
});

step('alice logs in and gets 200 from every endpoint', async () => {
  await login('alice');
  // The page says the token is DPoP-bound.
  const binding = page.getByTestId('token-binding');
  await binding.waitFor();
  assert.equal(await binding.getAttribute('data-type'), 'DPoP');
  assert.match(await binding.textContent(), /DPoP-bound to this browser's key [A-Za-z0-9_-]{43}/);
  const user = await page.getByTestId('user').textContent();
  assert.match(user, /Alice Example/);
  assert.match(user, /alice@example\.com/);
  assert.match(user, /dev\|alice/);

  assert.match(await call('call-public', '/api/public'), /→ 200 /);
  assert.match(await call('call-private', '/api/private'), /→ 200 /);
  assert.match(await call('call-scoped', '/api/private-scoped'), /→ 200 [\s\S]*read:messages/);
  const me = await call('call-me', '/api/me');
  assert.match(me, /→ 200 /);
  assert.match(me, /"subject": "dev\|alice"/);

  await mkdir(path.dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });

  // Every protected call went out as DPoP with one proof; the first was
  // asked for the API's nonce (401 use_dpop_nonce with DPoP-Nonce) and the
  // SDK's fetcher retried with it.
  const protectedCalls = apiExchanges.filter((x) => x.path !== '/api/public');
  assert.ok(protectedCalls.length >= 3, `protected calls seen: ${JSON.stringify(protectedCalls.map((x) => x.path))}`);
  for (const x of protectedCalls) {
    assert.match(x.headers.authorization, /^DPoP [\w-]+\.[\w-]+\.[\w-]+$/, `${x.path}: ${x.headers.authorization}`);
    assert.match(x.headers.dpop, /^[\w-]+\.[\w-]+\.[\w-]+$/, `${x.path}: no DPoP proof`);
  }
  const first = protectedCalls[0];
  assert.equal(first.status, 401, 'the first call had no nonce yet');
  assert.match(first.challenge, /^DPoP error="use_dpop_nonce"/);
  assert.ok(first.nonce, 'the 401 carried DPoP-Nonce');
  assert.equal(protectedCalls[1].path, first.path);
  assert.equal(protectedCalls[1].status, 200, 'the retry with the nonce succeeded');
  assert.ok(protectedCalls.slice(1).every((x) => x.status === 200), JSON.stringify(protectedCalls.map((x) => [x.path, x.status])));
});

step("alice's access token taken out of the page is worthless without her key", async () => {
  const taken = apiExchanges.findLast((x) => x.path === '/api/private' && x.status === 200);
  assert.ok(taken, 'a successful /api/private call to take the token from');
  const token = taken.headers.authorization.replace(/^DPoP /, '');
  const url = `${apiUrl}/api/private`;
  const get = (headers) => fetch(url, { headers });

  // As a bearer token: refused (no downgrade).
  let res = await get({ Authorization: `Bearer ${token}` });
  assert.equal(res.status, 401);
  assert.match(res.headers.get('www-authenticate'), /^Bearer realm="api", error="invalid_token", error_description="DPoP-bound access token sent with the Bearer scheme/);
  assert.equal((await res.json()).error, 'invalid_token');

  // With a proof from another key (npm's dpop, as any client would make one),
  // with the API's current nonce: refused, the token is bound to alice's key.
  const thief = await DPoP.generateKeyPair('ES256');
  const proof = await DPoP.generateProof(thief, url, 'GET', taken.nonce, token);
  res = await get({ Authorization: `DPoP ${token}`, DPoP: proof });
  assert.equal(res.status, 401);
  assert.match(res.headers.get('www-authenticate'), /^DPoP error="invalid_token", error_description="access token is bound to another DPoP key: cnf.jkt"/);

  // With the proof the page sent: already used.
  res = await get({ Authorization: `DPoP ${token}`, DPoP: taken.headers.dpop });
  assert.equal(res.status, 401);
  assert.match(res.headers.get('www-authenticate'), /^DPoP error="invalid_dpop_proof", error_description="DPoP proof already used: jti"/);

  // The page itself still works: its key is in the browser.
  assert.match(await call('call-private', '/api/private'), /→ 200 /);
});

// eventually waits up to 5 s for check() to hold.
async function eventually(check) {
  for (const deadline = Date.now() + 5000; !check(); ) {
    if (Date.now() > deadline) throw new Error(`still false after 5 s: ${check}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// The messages panel's items, as their texts.
async function messageTexts() {
  await page.waitForSelector('[data-testid="messages"][data-loaded="true"][data-busy="false"]', { state: 'attached' });
  return page.locator('[data-testid="message"] .message-text').allTextContents();
}

// apiToken mints a development token, as `api token` does for a user.
function apiToken(...args) {
  const r = spawnSync(bin, ['token', '-dev-dir', devDir, '-dev-issuer-addr', issuerAddr, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`api token: ${r.stderr}`);
  return r.stdout.trim();
}

step('alice posts a message, reloads and still sees it, then deletes it after a second step (step-up, RFC 9470)', async () => {
  const text = `hello from the browser, ${Date.now()}`;
  assert.deepEqual(await messageTexts(), []);
  await page.getByTestId('message-text').fill(text);
  await page.getByTestId('post-message').click();
  await page.locator('[data-testid="message"]', { hasText: text }).waitFor();

  await page.reload();
  await page.getByTestId('user').waitFor();
  await page.locator('[data-testid="message"]', { hasText: text }).waitFor();
  assert.deepEqual(await messageTexts(), [text]);

  // Deleting asks for more than alice's login (STEP_UP's -dev default:
  // the issuer's second step within 10 minutes, RFC 9470). The API refuses
  // with the challenge, and the page says why.
  const deletesBefore = apiExchanges.filter((x) => x.method === 'DELETE').length;
  await page.locator('[data-testid="message"]', { hasText: text }).getByTestId('delete-message').click();
  const notice = page.getByTestId('step-up');
  await notice.waitFor();
  assert.match(await notice.textContent(), /Deleting this message needs you to log in again/);
  assert.match(await page.getByTestId('step-up-reason').textContent(), new RegExp(`a stronger login is required: acr ${MFA_RE}; the token has no acr`));
  assert.equal(await notice.getAttribute('data-acr-values'), MFA);
  assert.equal(await notice.getAttribute('data-max-age'), '600');
  const isStepUp = (x) => x.status === 401 && /error="insufficient_user_authentication"/.test(x.challenge);
  await eventually(() => apiExchanges.slice(deletesBefore).some(isStepUp)); // recorded once its headers are read
  const refused = apiExchanges.filter((x) => x.method === 'DELETE').slice(deletesBefore).filter(isStepUp);
  assert.equal(refused.length, 1, JSON.stringify(refused));
  assert.match(refused[0].challenge, new RegExp(`^DPoP error="insufficient_user_authentication", error_description="[^"]+", acr_values="${MFA_RE}", max_age="600", algs="`));
  assert.match(refused[0].headers.authorization, /^DPoP /, 'the refused call was DPoP, as every call of this SPA');
  await page.locator('[data-testid="message"]', { hasText: text }).waitFor(); // still there

  // "Log in again": the SDK goes to /authorize with the challenge's
  // acr_values and max_age; alice's session there is fresh but has one
  // step, so the issuer asks for the second alone: the one-time code.
  const authorize = page.waitForRequest((r) => {
    const u = new URL(r.url());
    return u.origin === issuerUrl && u.pathname === '/authorize' && u.searchParams.has('acr_values');
  });
  await page.getByTestId('step-up-login').click();
  const asked = new URL((await authorize).url()).searchParams;
  assert.equal(asked.get('acr_values'), MFA);
  assert.equal(asked.get('max_age'), '600');
  const code = page.getByTestId('second-step-code');
  await code.waitFor();
  assert.match(await page.locator('main').textContent(), /asks for a stronger login[\s\S]*Alice Example/);
  // A wrong code first: asked again, with the same code shown.
  const shown = (await code.textContent()).trim();
  assert.match(shown, /^\d{6}$/);
  await page.getByTestId('second-step-input').fill(shown === '000000' ? '111111' : '000000');
  await page.getByTestId('second-step-submit').click();
  await page.getByTestId('second-step-problem').waitFor();
  assert.equal((await page.getByTestId('second-step-code').textContent()).trim(), shown);
  await page.getByTestId('second-step-input').fill(shown);
  await page.getByTestId('second-step-submit').click();

  // Back in the SPA, the delete is sent once more, with the stronger
  // token, and goes through.
  await page.waitForURL((u) => u.origin === SPA);
  const retried = page.getByTestId('step-up-retried');
  await retried.waitFor();
  assert.equal(await retried.getAttribute('data-ok'), 'true', await retried.textContent());
  assert.match(await retried.textContent(), /^DELETE \/api\/messages\/[\w-]+ → 204 after the new login/);
  await page.locator('[data-testid="message"]', { hasText: text }).waitFor({ state: 'detached' });
  await eventually(() => apiExchanges.slice(deletesBefore).some((x) => x.method === 'DELETE' && x.status === 204));
  const deletes = apiExchanges.filter((x) => x.method === 'DELETE').slice(deletesBefore);
  assert.ok(deletes.slice(0, -1).every((x) => x.status === 401), JSON.stringify(deletes.map((x) => [x.status, x.challenge])));
  assert.equal(deletes.filter((x) => x.status === 204).length, 1, JSON.stringify(deletes.map((x) => [x.status, x.challenge])));
  assert.equal(deletes.at(-1).status, 204);
  // The token now says how alice logged in.
  const me = await call('call-me', '/api/me');
  assert.match(me, new RegExp(`"acr": "${MFA_RE}"`));
  assert.match(me, /"amr": \[\s*"pwd",\s*"otp",\s*"mfa"\s*\]/);
  assert.match(me, /"auth_time": "/);

  await page.reload();
  await page.getByTestId('user').waitFor();
  assert.deepEqual(await messageTexts(), []);
  assert.equal(await page.getByTestId('messages-error').count(), 0);
});

step('"load more" follows next_cursor; only your own messages have a delete button', async () => {
  // Twelve messages: eleven of alice's, posted through the API as the SPA
  // would, and the newest by someone else.
  const alice = apiToken('-sub', 'alice', '-scope', 'read:messages write:messages');
  const carol = apiToken('-sub', 'carol', '-scope', 'write:messages');
  for (let i = 1; i <= 12; i++) {
    const res = await fetch(`${apiUrl}/api/messages`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${i === 12 ? carol : alice}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ text: `message ${i}` }),
    });
    assert.equal(res.status, 201, await res.text());
  }
  await page.reload();
  await page.getByTestId('user').waitFor();
  await page.getByTestId('load-more').waitFor();
  const first = await messageTexts();
  assert.deepEqual(first, ['message 12', 'message 11', 'message 10', 'message 9', 'message 8', 'message 7',
    'message 6', 'message 5', 'message 4', 'message 3']);
  const carols = page.locator('[data-testid="message"]', { hasText: 'message 12' });
  assert.equal(await carols.getByTestId('delete-message').count(), 0, "no delete button on carol's message");
  assert.equal(await page.getByTestId('delete-message').count(), 9);

  await page.getByTestId('load-more').click();
  await page.getByTestId('load-more').waitFor({ state: 'detached' });
  assert.deepEqual((await messageTexts()).slice(10), ['message 2', 'message 1']);

  // Clean up alice's, through the page.
  while ((await page.getByTestId('delete-message').count()) > 0) {
    const before = await page.getByTestId('delete-message').count();
    await page.getByTestId('delete-message').first().click();
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="delete-message"]').length < n, before);
  }
  assert.deepEqual(await messageTexts(), ['message 12']);
});

step('a reload keeps alice logged in (silent authentication in a hidden iframe)', async () => {
  // The token cache is in memory, so after a reload the SDK asks the issuer
  // again: /authorize with prompt=none, answered by a web_message page.
  const silent = page.waitForRequest((r) => {
    const u = new URL(r.url());
    return (
      u.origin === issuerUrl &&
      u.pathname === '/authorize' &&
      u.searchParams.get('prompt') === 'none' &&
      u.searchParams.get('response_mode') === 'web_message'
    );
  });
  await page.reload();
  await silent;
  assert.match(await page.getByTestId('user').textContent(), /Alice Example/);
  assert.match(await call('call-scoped', '/api/private-scoped'), /→ 200 /);
});

step('alice logs out, also at the issuer', async () => {
  await page.getByTestId('logout').click();
  await page.waitForURL((u) => u.origin === SPA);
  await page.getByTestId('login').waitFor();
  assert.equal(await page.getByTestId('user').count(), 0);
  // The issuer's session is gone too: silent authentication now fails.
  assert.match(await call('call-private', '/api/private'), /→ no access token: login_required/);
});

step('a login form posted from another site is refused (login CSRF)', async () => {
  // An attacker starts a login of its own and makes the victim's browser
  // post it from the attacker's page (here the SPA's origin, which is
  // cross-origin to the issuer). The issuer must not log the browser in.
  const verifier = 'x'.repeat(43);
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const q = new URLSearchParams({
    client_id: 'dev-spa', redirect_uri: SPA, response_type: 'code', scope: 'openid read:messages',
    audience: AUDIENCE, state: 'attacker', code_challenge: challenge, code_challenge_method: 'S256',
  });
  const html = await (await fetch(`${issuerUrl}/authorize?${q}`)).text();
  const txn = html.match(/name="txn" value="([^"]+)"/)?.[1];
  assert.ok(txn, 'the attacker got a login page');

  await page.goto(SPA);
  await page.getByTestId('login').waitFor();
  await page.evaluate(({ action, txn }) => {
    const form = document.createElement('form');
    form.method = 'post';
    form.action = action;
    for (const [name, value] of [['txn', txn], ['user', 'alice']]) {
      const input = document.createElement('input');
      input.type = 'hidden';
      input.name = name;
      input.value = value;
      form.appendChild(input);
    }
    document.body.appendChild(form);
    form.submit();
  }, { action: `${issuerUrl}/login`, txn });
  await page.waitForURL((u) => u.origin === issuerUrl && u.pathname === '/login');
  assert.match(await page.locator('h1').textContent(), /Cross-site login refused/);

  // No session at the issuer: silent authentication still needs a login.
  await page.goto(SPA);
  await page.getByTestId('login').waitFor();
  assert.match(await call('call-private', '/api/private'), /→ no access token: login_required/);
});

step('bob logs in: /api/private 200, /api/private-scoped 403 insufficient_scope', async () => {
  await login('bob');
  const user = await page.getByTestId('user').textContent();
  assert.match(user, /Bob Example/);
  assert.match(user, /dev\|bob/);

  assert.match(await call('call-private', '/api/private'), /→ 200 /);
  const scoped = await call('call-scoped', '/api/private-scoped');
  assert.match(scoped, /→ 403 insufficient_scope/);
  assert.match(scoped, /WWW-Authenticate: .*error="insufficient_scope"/);
});

step('bob sees why he may not read or post messages', async () => {
  const error = page.getByTestId('messages-error');
  await error.waitFor();
  const shown = await error.textContent();
  assert.match(shown, /GET \/api\/messages\?limit=10 → 403 insufficient_scope: insufficient scope: read:messages required/);
  assert.match(shown, /Your access token lacks the scope this needs/);
  assert.equal(await page.getByTestId('message').count(), 0);

  await page.getByTestId('message-text').fill('bob was here');
  await page.getByTestId('post-message').click();
  await page.waitForFunction(() =>
    document.querySelector('[data-testid="messages-error"]')?.textContent.includes('POST /api/messages → 403'),
  );
  assert.match(await error.textContent(), /403 insufficient_scope: insufficient scope: write:messages required/);
});
