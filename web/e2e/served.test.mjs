// The SPA served by the API itself (SPA_DIR), from one origin: `api -dev`
// serves a production build and its settings at /config.json, and headless
// Chromium loads a deep link, logs in as alice through the development
// issuer, calls the API and posts and deletes a message. The build is made
// with build-time settings (VITE_*) that point nowhere, so the page can
// only work with the settings the server gave it at run time. Checked
// too: no CORS preflight and no CORS header (one origin), the CSP header on
// the page and no CSP violation while it works (silent authentication in
// the issuer's iframe included), the caching of hashed assets.
//
//   node --test e2e/served.test.mjs
//
// Environment: API_BIN=<path> uses that API binary instead of building
// ./cmd/api; CHROMIUM=<path> another browser than /usr/bin/chromium.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { apiEnv, buildApi, freePort, start, tempDir, waitFor, webDir, withLogs } from './helpers.mjs';

// Build-time settings that cannot work: if the page used them, nothing would.
const BUILD_TIME = {
  VITE_AUTH0_DOMAIN: 'http://build-time-issuer.invalid',
  VITE_AUTH0_CLIENT_ID: 'build-time-client',
  VITE_AUTH0_AUDIENCE: 'http://build-time-audience.invalid/api',
  VITE_API_URL: 'http://build-time-api.invalid',
  VITE_USE_DPOP: 'false',
};
const FAILURES = path.join(webDir, 'test-output');

let tmp, api, browser, page;
let spaUrl, issuerUrl, dist;
const consoleLog = []; // the page's console and errors, shown on failure
const requests = []; // every request the page made: { method, url, frame }
const apiAnswers = []; // every answer from the API's /api/ paths: { method, path, status, headers }

before(async () => {
  tmp = await tempDir('spaapi-served-');
  const bin = process.env.API_BIN || buildApi(tmp);

  // The production build (`npm run build`, into a folder of this test).
  const viteBin = path.join(webDir, 'node_modules', 'vite', 'bin', 'vite.js');
  dist = path.join(tmp, 'dist');
  const build = spawnSync(process.execPath, [viteBin, 'build', '--outDir', dist, '--emptyOutDir'], {
    cwd: webDir,
    encoding: 'utf8',
    env: { ...process.env, ...BUILD_TIME },
  });
  if (build.status !== 0) throw new Error(`vite build failed:\n${build.stdout}${build.stderr}`);

  const apiPort = await freePort();
  const issuerPort = await freePort();
  spaUrl = `http://localhost:${apiPort}`; // the API's own origin
  issuerUrl = `http://localhost:${issuerPort}`;
  const devDir = path.join(tmp, 'dev');
  await mkdir(devDir);
  api = start('api', bin, ['-dev', '-dev-dir', devDir, '-addr', `127.0.0.1:${apiPort}`, '-dev-issuer-addr', `127.0.0.1:${issuerPort}`], {
    env: apiEnv({ SPA_DIR: dist }),
  });

  try {
    await waitFor(`${spaUrl}/readyz`, api);
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
    const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
    // Every CSP violation in any document of the page, as the browser
    // reports it to the page (the console shows them too).
    await context.addInitScript(() => {
      window.__cspViolations = [];
      document.addEventListener('securitypolicyviolation', (e) => {
        window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI} (${e.sourceFile}:${e.lineNumber})`);
      });
    });
    page = await context.newPage();
    page.setDefaultTimeout(15000);
    page.on('console', (m) => consoleLog.push(`[console.${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLog.push(`[pageerror] ${e.message}`));
    page.on('requestfailed', (r) => consoleLog.push(`[requestfailed] ${r.url()} ${r.failure()?.errorText}`));
    page.on('request', (r) => requests.push({ method: r.method(), url: r.url() }));
    page.on('response', async (res) => {
      const u = new URL(res.url());
      if (u.origin !== spaUrl || !u.pathname.startsWith('/api/')) return;
      apiAnswers.push({ method: res.request().method(), path: u.pathname, status: res.status(), headers: res.headers() });
    });
  } catch (e) {
    throw withLogs(e, [api]);
  }
});

after(async () => {
  await browser?.close();
  await api?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

// step is a test whose failure saves the page (test-output/) and shows the
// API's output and the browser console.
function step(name, fn) {
  test(name, async (t) => {
    try {
      await fn(t);
    } catch (e) {
      if (page) {
        const base = path.join(FAILURES, `served-${name.replace(/\W+/g, '-')}`);
        await mkdir(FAILURES, { recursive: true });
        await page.screenshot({ path: `${base}.png`, fullPage: true }).catch(() => {});
        await writeFile(`${base}.html`, `<!-- ${page.url()} -->\n${await page.content().catch(() => '')}`);
      }
      const err = withLogs(e, [api]);
      err.message += `\n----- browser (at ${page?.url()}) -----\n${consoleLog.join('\n')}`;
      throw err;
    }
  });
}

async function call(testid, apiPath) {
  await page.getByTestId(testid).click();
  await page.waitForFunction((prefix) => {
    const el = document.querySelector('[data-testid="result"]');
    return el && el.dataset.status !== 'pending' && el.textContent.startsWith(prefix);
  }, `GET ${apiPath} → `);
  return page.getByTestId('result').textContent();
}

// cspViolations collects the violations every frame of the page recorded.
async function cspViolations() {
  const all = [];
  for (const frame of page.frames()) {
    all.push(...(await frame.evaluate(() => window.__cspViolations || []).catch(() => [])));
  }
  return all.concat(consoleLog.filter((l) => /Content Security Policy/i.test(l)));
}

step('a deep link loads index.html with the CSP, and the page runs on the settings from /config.json', async () => {
  const res = await page.goto(`${spaUrl}/some/client/route`);
  assert.equal(res.status(), 200);
  const h = res.headers();
  assert.equal(h['content-type'], 'text/html; charset=utf-8');
  assert.equal(h['cache-control'], 'no-cache');
  assert.equal(h['x-content-type-options'], 'nosniff');
  assert.equal(h['referrer-policy'], 'no-referrer');
  const csp = h['content-security-policy'];
  assert.ok(csp, 'the page has a Content-Security-Policy');
  for (const directive of [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `connect-src 'self' ${issuerUrl}`,
    `frame-src ${issuerUrl}`,
    "frame-ancestors 'none'",
  ]) {
    assert.ok(csp.split('; ').includes(directive), `CSP ${csp} lacks ${directive}`);
  }
  assert.equal(new URL(page.url()).pathname, '/some/client/route', 'the address stays the deep link');

  await page.getByTestId('login').waitFor();
  assert.equal(await page.getByTestId('settings-source').getAttribute('data-source'), '/config.json');
  assert.equal(await page.getByTestId('api-url').textContent(), spaUrl, 'the API URL from /config.json, not the build');
  assert.ok(requests.some((r) => r.url === `${spaUrl}/config.json`), 'the page asked for /config.json');
  assert.match(await call('call-public', '/api/public'), /→ 200 OK[\s\S]*Hello from a public endpoint/);
});

step('alice logs in at the issuer /config.json names, and calls the API from the same origin', async () => {
  await page.getByTestId('login').click();
  await page.waitForURL((u) => u.origin === issuerUrl && u.pathname === '/authorize');
  const authorize = new URL(page.url());
  assert.equal(authorize.searchParams.get('client_id'), 'dev-spa');
  assert.equal(authorize.searchParams.get('redirect_uri'), spaUrl);
  assert.equal(authorize.searchParams.get('audience'), 'http://localhost:8080/api');
  await page.getByTestId('login-user-alice').click();
  await page.waitForURL((u) => u.origin === spaUrl);
  assert.match(await page.getByTestId('user').textContent(), /Alice Example/);
  // /config.json says dpop: true (the default with -dev); the build said false.
  const binding = page.getByTestId('token-binding');
  await binding.waitFor();
  assert.equal(await binding.getAttribute('data-type'), 'DPoP');

  assert.match(await call('call-private', '/api/private'), /→ 200 /);
  assert.match(await call('call-scoped', '/api/private-scoped'), /→ 200 [\s\S]*read:messages/);
  assert.match(await call('call-me', '/api/me'), /"subject": "dev\|alice"/);

  // A POST with JSON and a DELETE: cross-origin both would need a preflight.
  const text = `served from the API, ${Date.now()}`;
  await page.getByTestId('message-text').fill(text);
  await page.getByTestId('post-message').click();
  const item = page.locator('[data-testid="message"]', { hasText: text });
  await item.waitFor();
  await item.getByTestId('delete-message').click();
  // -dev asks for the issuer's second step to delete (STEP_UP): log in
  // again from the API's origin, type the code shown, and the delete is
  // repeated on the way back.
  await page.getByTestId('step-up-login').click();
  const code = page.getByTestId('second-step-code');
  await code.waitFor();
  await page.getByTestId('second-step-input').fill((await code.textContent()).trim());
  await page.getByTestId('second-step-submit').click();
  await page.waitForURL((u) => u.origin === spaUrl);
  await page.getByTestId('step-up-retried').waitFor();
  assert.equal(await page.getByTestId('step-up-retried').getAttribute('data-ok'), 'true');
  await item.waitFor({ state: 'detached' });
});

step('no CORS: no preflight, no CORS header, every API call to the page’s own origin', async () => {
  const toApi = requests.filter((r) => new URL(r.url).pathname.startsWith('/api/'));
  assert.ok(toApi.length >= 6, `API requests seen: ${JSON.stringify(toApi)}`);
  for (const r of toApi) assert.equal(new URL(r.url).origin, spaUrl, `${r.method} ${r.url}`);
  assert.deepEqual(requests.filter((r) => r.method === 'OPTIONS'), [], 'no preflight request');
  const methods = new Set(apiAnswers.map((a) => a.method));
  assert.ok(methods.has('POST') && methods.has('DELETE'), `methods: ${[...methods]}`);
  for (const a of apiAnswers) {
    assert.equal(a.headers['access-control-allow-origin'], undefined, `${a.method} ${a.path} needed no CORS header`);
  }
  assert.ok(apiAnswers.filter((a) => a.status < 300).length >= 6, JSON.stringify(apiAnswers.map((a) => [a.method, a.path, a.status])));
});

step('a reload keeps alice logged in through the issuer’s iframe, which the CSP allows', async () => {
  const silent = page.waitForRequest((r) => {
    const u = new URL(r.url());
    return u.origin === issuerUrl && u.pathname === '/authorize' && u.searchParams.get('prompt') === 'none';
  });
  await page.reload();
  await silent;
  assert.match(await page.getByTestId('user').textContent(), /Alice Example/);
  assert.match(await call('call-scoped', '/api/private-scoped'), /→ 200 /);
});

step('no CSP violation anywhere in the run', async () => {
  assert.deepEqual(await cspViolations(), []);
});

step('hashed assets are cached for a year; /config.json is not stored; the API keeps its JSON 404', async () => {
  const assets = await readdir(path.join(dist, 'assets'));
  const js = assets.find((f) => f.endsWith('.js'));
  assert.ok(js, `a script in ${assets}`);
  let res = await fetch(`${spaUrl}/assets/${js}`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal(res.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.ok(res.headers.get('etag'));

  res = await fetch(`${spaUrl}/config.json`);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  const config = await res.json();
  assert.deepEqual(config, {
    issuer: `${issuerUrl}/`,
    clientId: 'dev-spa',
    audience: 'http://localhost:8080/api',
    dpop: true,
    apiUrl: spaUrl,
  });

  res = await fetch(`${spaUrl}/api/nope`, { headers: { Accept: 'text/html' } });
  assert.equal(res.status, 404);
  assert.equal((await res.json()).error, 'not_found');
});
