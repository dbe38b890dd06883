// tests/integration/observe_helpers.mjs: real components for the observability suites
// (observe_*.test.mjs), each started on 127.0.0.1 in a temporary folder and stopped at the end,
// also when a test fails or the process is interrupted:
//
//   startPrometheus(jobs)   Debian's prometheus scraping our server every second; query(expr)
//                           reads figures back through its HTTP API
//   promtool(text)          `promtool check metrics` on an exposition -> { code, output }
//   startOtlpReceiver()     a small OTLP/HTTP (JSON) receiver: every span POSTed to /v1/traces
//   startHttpTarget()       a plain HTTP server recording the requests made to it
//   freePort()              a port free on 127.0.0.1 just now
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { killGroup, trackGroup, withTimeout } from '../node/server.mjs';

export const hasPrometheus = fs.existsSync('/usr/bin/prometheus') && fs.existsSync('/usr/bin/promtool');

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export async function waitFor(fn, { timeoutMs = 30000, what = 'a condition', intervalMs = 200 } = {}) {
  const until = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      if (e.fatal) throw e;
      last = e;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function promtool(text) {
  const r = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30000 });
  return { code: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/**
 * Starts Prometheus with one scrape job per entry of `jobs`: { name, port, token? } (scraping
 * http://127.0.0.1:port/metrics every second, with the bearer token if given).
 * Returns { url, query(expr) -> [{metric, value}], stop() }.
 */
export async function startPrometheus(jobs) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasimancer-prometheus-'));
  const port = await freePort();
  const config = ['global:', '  scrape_interval: 1s', '  scrape_timeout: 900ms', 'scrape_configs:'];
  for (const j of jobs) {
    config.push(`  - job_name: ${j.name}`, '    metrics_path: /metrics', '    static_configs:', `      - targets: ["127.0.0.1:${j.port}"]`);
    if (j.token) config.push('    authorization:', `      credentials: "${j.token}"`);
  }
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), `${config.join('\n')}\n`);
  const proc = spawn('/usr/bin/prometheus', [
    `--config.file=${path.join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  const untrack = trackGroup(proc.pid);
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    killGroup(proc.pid, 'SIGTERM');
    const done = await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 5000))]);
    if (!done) killGroup(proc.pid, 'SIGKILL');
    untrack();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(async () => {
      if (proc.exitCode !== null) throw Object.assign(new Error(`prometheus exited with code ${proc.exitCode}`), { fatal: true });
      return (await fetch(`${url}/-/ready`)).status === 200;
    },
      { timeoutMs: 60000, what: 'Prometheus to be ready' });
  } catch (e) {
    await stop();
    throw new Error(`${e.message}\n--- prometheus stderr ---\n${stderr}`);
  }
  return {
    url,
    stderr: () => stderr,
    stop,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = await res.json();
      if (body.status !== 'success') throw new Error(`query ${expr}: ${JSON.stringify(body)}`);
      return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
  };
}

/** An OTLP/HTTP JSON receiver on 127.0.0.1: { endpoint, spans, requests, close() }. */
export async function startOtlpReceiver() {
  const spans = [];
  const requests = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      requests.push({ method: req.method, url: req.url, contentType: req.headers['content-type'] });
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      try {
        const doc = JSON.parse(body);
        for (const rs of doc.resourceSpans ?? []) {
          const resource = Object.fromEntries((rs.resource?.attributes ?? []).map((a) => [a.key, a.value?.stringValue]));
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              const attributes = Object.fromEntries((s.attributes ?? []).map((a) => [a.key, a.value?.stringValue]));
              spans.push({ ...s, attributes, resource });
            }
          }
        }
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
      } catch (e) {
        res.writeHead(400).end(String(e));
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return { endpoint: `http://127.0.0.1:${port}`, spans, requests, close: () => new Promise((r) => server.close(r)) };
}

/** A plain HTTP server on 127.0.0.1 answering "pong", recording each request's headers. */
export async function startHttpTarget() {
  const requests = [];
  const server = http.createServer((req, res) => {
    requests.push({ url: req.url, headers: req.headers });
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('pong');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}`, requests, close: () => new Promise((r) => server.close(r)) };
}

export { withTimeout };
