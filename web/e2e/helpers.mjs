// Shared by the e2e tests: build the Go API, start processes with their
// output captured, find free ports, wait for readiness, clean up.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

export const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const repoDir = path.resolve(webDir, '..');

export const tempDir = (prefix) => mkdtemp(path.join(os.tmpdir(), prefix));

// buildApi compiles ./cmd/api into dir and returns the binary's path.
export function buildApi(dir) {
  const bin = path.join(dir, 'api');
  const r = spawnSync('go', ['build', '-o', bin, './cmd/api'], { cwd: repoDir, encoding: 'utf8' });
  if (r.error) throw new Error(`go build: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`go build failed (exit ${r.status}):\n${r.stdout}${r.stderr}`);
  return bin;
}

// freePort asks the kernel for a free loopback port.
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// apiEnv is this process's environment without the API's own settings
// (which a developer may have exported), plus extra.
export function apiEnv(extra) {
  const env = { ...process.env };
  for (const k of [
    'ISSUER_BASE_URL', 'AUTH0_DOMAIN', 'AUDIENCE', 'AUTH0_AUDIENCE', 'JWKS_URI', 'TOKEN_SIGNING_ALG',
    'CLOCK_TOLERANCE', 'ALLOWED_ORIGINS', 'ADDR', 'PORT', 'DEV_DIR', 'DEV_ISSUER_ADDR',
    'TOKEN_CACHE_SIZE', 'TOKEN_CACHE_TTL', 'METRICS_ADDR', 'AUTH_PROVIDER', 'ROLES_CLAIM',
    'INTROSPECTION_URL', 'INTROSPECTION_CLIENT_ID', 'INTROSPECTION_CLIENT_SECRET', 'INTROSPECTION_CLIENT_SECRET_FILE',
    'INTROSPECTION_CACHE_TTL', 'DATABASE_URL', 'MESSAGES_PER_USER',
    'DPOP_MODE', 'DPOP_SIGNING_ALGS', 'DPOP_IAT_OFFSET', 'DPOP_IAT_LEEWAY', 'DPOP_NONCE', 'DPOP_NONCE_SECRET',
    'DPOP_NONCE_WINDOW', 'REDIS_URL', 'PUBLIC_URL', 'TRUSTED_PROXIES', 'AUTH_FAILURE_LIMIT',
    'SPA_DIR', 'SPA_CLIENT_ID', 'SPA_ISSUER', 'SPA_AUDIENCE', 'SPA_DPOP', 'RESOURCE_NAME', 'RESOURCE_DOCUMENTATION',
    'STEP_UP', 'AUTH0_CLAIMS_NAMESPACE',
    'TLS_CERT_FILE', 'TLS_KEY_FILE', 'TLS_CLIENT_CERTS', 'TLS_CLIENT_CA_FILE', 'CLIENT_CERT_HEADER', 'HSTS_MAX_AGE',
  ]) {
    delete env[k];
  }
  // Metrics on a free port: several APIs run at once in these tests.
  return { ...env, METRICS_ADDR: '127.0.0.1:0', ...extra };
}

const running = new Set();
// A last resort if the test process exits without stopping what it started.
process.on('exit', () => {
  for (const p of running) {
    try {
      process.kill(-p.pid, 'SIGKILL');
    } catch {}
  }
});

// start runs a command in its own process group, capturing its output.
// The returned handle has log() (everything it printed so far), exited
// (a promise of its exit code) and stop().
export function start(name, cmd, args, opts = {}) {
  const child = spawn(cmd, args, { ...opts, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  let status = 'running';
  const exited = new Promise((resolve) => {
    child.on('error', (e) => {
      out += `\n[${name}: ${e.message}]\n`;
      status = `failed to start: ${e.message}`;
      running.delete(child);
      resolve(null);
    });
    child.on('exit', (code, signal) => {
      status = `exited (${signal || code})`;
      running.delete(child);
      resolve(code);
    });
  });
  return {
    name,
    exited,
    status: () => status,
    log: () => out,
    // stop sends SIGTERM to the process group, then SIGKILL after 5s.
    async stop() {
      if (status !== 'running') return;
      const kill = (sig) => {
        try {
          process.kill(-child.pid, sig);
        } catch {}
      };
      kill('SIGTERM');
      const timer = setTimeout(() => kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// waitFor polls url until it answers with status, failing early if proc
// exits and after timeoutMs.
export async function waitFor(url, proc, { status = 200, timeoutMs = 30000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    if (proc.status() !== 'running') throw new Error(`${proc.name} ${proc.status()} while waiting for ${url}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.status === status) return;
      last = `status ${res.status}`;
    } catch (e) {
      last = e.cause?.code || e.message;
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (last: ${last})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// withLogs adds the output of procs to an error, so a failure shows them.
export function withLogs(err, procs) {
  const logs = procs
    .filter(Boolean)
    .map((p) => `\n----- ${p.name} (${p.status()}) output -----\n${tail(p.log(), 200)}`)
    .join('');
  if (err instanceof Error) {
    err.message += logs;
    return err;
  }
  return new Error(String(err) + logs);
}

// checkWithLogs returns a function declaring a test whose failure shows
// the output of procs() (called on failure: the processes start later).
export function checkWithLogs(procs) {
  return (name, fn) =>
    test(name, async () => {
      try {
        await fn();
      } catch (e) {
        throw withLogs(e, procs());
      }
    });
}

function tail(text, lines) {
  const all = text.split('\n');
  return all.length > lines ? `[… ${all.length - lines} lines]\n` + all.slice(-lines).join('\n') : text;
}
