// tests/integration/admin_helpers.mjs: helpers for the admin API suites written for node:test
// (tests/integration/admin_*.test.mjs). Plain fetch / FormData / Blob only; every request goes
// to 127.0.0.1.
//
//   startServer({ dir, env, cwd })  a real wasimancer on a free port (serve --bind 127.0.0.1 --port 0)
//   server.admin(method, path, init)  an admin request with the admin token -> { status, body, text }
//   server.upload(method, wasmPath, pluginData, { fileName, query })
//   server.rpc(method, params, { sse })  a JSON-RPC request on POST /mcp -> the response object
//   server.stop() / server.kill()
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '..', '..');
export const buildDir = path.resolve(process.env.WASIMANCER_BUILD || path.join(root, 'build'));
export const binary = path.join(buildDir, 'wasimancer');
export const testPlugin = (name) => path.join(buildDir, 'plugins', name.endsWith('.wasm') ? name : `${name}.wasm`);

export const ADMIN_TOKEN = 'admin-token-5e8a';
export const MCP_TOKEN = 'mcp-token-a41c';

// The runner's environment must not change what the tests expect of the server; the native tier
// settings (WASIMANCER_NATIVE*, WASIMANCER_TIER) pass through, defaulting to scripts/run-tests.sh's.
const SERVER_ENV = /^(WASM_|WASIMANCER_(?!NATIVE|TIER))|^(HTTP_PORT|PORT|DEBUG|PLUGINS_PATH|PLUGINS_DEFINITION_FILE|UPLOAD_PATH|RESOURCES_PATH|RESOURCES_DEFINITION_FILE|PROMPTS_PATH|PROMPTS_DEFINITION_FILE)$/;
export function cleanEnv(extra = {}) {
  const env = {
    WASIMANCER_NATIVE: 'quick',
    WASIMANCER_NATIVE_OPT: '-O0',
    WASIMANCER_NATIVE_CACHE: path.join(buildDir, 'native-cache'),
  };
  for (const [k, v] of Object.entries(process.env)) if (!SERVER_ENV.test(k)) env[k] = v;
  return { ...env, ...extra };
}

export function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `wasimancer-${prefix}-`));
}

export async function startServer({ env = {}, cwd, args = [] } = {}) {
  const child = spawn(binary, ['serve', '--bind', '127.0.0.1', '--port', '0', ...args], {
    cwd,
    env: cleanEnv({ WASIMANCER_ADMIN_TOKEN: ADMIN_TOKEN, WASIMANCER_AUTHENTICATION_TOKEN: MCP_TOKEN, ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start within 20 s:\n${log}`)), 20000);
    const onData = (d) => {
      log += d.toString();
      const m = log.match(/listening on http:\/\/[^:]+:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code ?? signal}) before listening:\n${log}`));
    });
  });
  return new Server(child, port, exited, () => log);
}

export class Server {
  constructor(child, port, exited, log) {
    this.child = child;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.exited = exited;
    this.log = log;
  }

  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(t);
  }

  async admin(method, p, { body, headers = {}, token = ADMIN_TOKEN } = {}) {
    const h = { ...headers };
    if (token !== null) h.Authorization = `Bearer ${token}`;
    if (body !== undefined && typeof body !== 'string' && !(body instanceof FormData)) {
      h['Content-Type'] = 'application/json';
      body = JSON.stringify(body);
    } else if (typeof body === 'string' && !h['Content-Type']) {
      h['Content-Type'] = 'application/json';
    }
    const res = await fetch(this.url + p, { method, headers: h, body });
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, body: json, text };
  }

  upload(method, wasm, pluginData, { fileName, query = '', token } = {}) {
    const form = new FormData();
    const bytes = Buffer.isBuffer(wasm) ? wasm : fs.readFileSync(wasm);
    form.append('wasmFile', new Blob([bytes], { type: 'application/wasm' }), fileName ?? (Buffer.isBuffer(wasm) ? 'plugin.wasm' : path.basename(wasm)));
    form.append('pluginData', typeof pluginData === 'string' ? pluginData : JSON.stringify(pluginData));
    const p = (method === 'PUT' ? '/update-plugin' : '/upload-plugin') + query;
    return this.admin(method, p, { body: form, token });
  }

  // One JSON-RPC request over POST /mcp (stateless). sse: accept both and decode the SSE answer.
  async rpc(method, params = {}, { sse = false, id = 1 } = {}) {
    const res = await fetch(`${this.url}/mcp`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${MCP_TOKEN}`,
        'Content-Type': 'application/json',
        Accept: sse ? 'application/json, text/event-stream' : 'application/json',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${method}: HTTP ${res.status}: ${text}`);
    if (sse) {
      const data = text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)));
      const answer = data.find((m) => m.id === id);
      if (!answer) throw new Error(`${method}: no answer in the SSE stream: ${text}`);
      return answer;
    }
    return JSON.parse(text);
  }

  // The text of a tool's answer; throws on a JSON-RPC error or a tool error.
  async call(name, args = {}, opts = {}) {
    const r = await this.rpc('tools/call', { name, arguments: args }, opts);
    if (r.error) throw new Error(`tools/call ${name}: ${JSON.stringify(r.error)}`);
    if (r.result.isError) throw new Error(`tools/call ${name}: tool error ${JSON.stringify(r.result.content)}`);
    return r.result.content[0].text;
  }

  async toolNames() {
    const r = await this.rpc('tools/list');
    if (r.error) throw new Error(`tools/list: ${JSON.stringify(r.error)}`);
    return r.result.tools.map((t) => t.name).sort();
  }
}

export function pluginData(name, fn, { tool = fn, version = '1.0.0', description = 'test plugin' } = {}) {
  return { name, version, description, functions: [{ displayName: tool, function: fn, arguments: [], description: `calls ${fn}` }] };
}

// Leftover temporary files (".<name>.tmp-<random>") under dir.
export function tempFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/^\..*\.tmp-/.test(e.name)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

// A YAML file as a JS value (through python3's yaml module, as the shell suites do).
export async function readYaml(file) {
  const { execFileSync } = await import('node:child_process');
  const out = execFileSync('python3', ['-c', 'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', file]);
  return JSON.parse(out.toString());
}
