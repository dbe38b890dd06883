// tests/integration/admin_helpers.mjs: helpers for the admin API suites written for node:test
// (tests/integration/admin_*.test.mjs), on top of tests/node/server.mjs (which starts, tracks and
// ends the server processes). Plain fetch / FormData / Blob only; every request goes to 127.0.0.1.
//
//   startServer({ env, cwd, args })  a real wasimancer on a free port (listeningServer), on folders
//                                    the test owns (so that a restart finds them)
//   server.admin(method, path, init)  an admin request with the admin token -> { status, body, text }
//   server.upload(method, wasmPath, pluginData, { fileName, query })
//   server.rpc(method, params, { sse })  a JSON-RPC request on POST /mcp -> the response object
//   server.call(name, args), server.toolNames()
//   server.stop()                    SIGTERM; after 5 s the server and all it started are killed
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ACCEPT_BOTH, cleanEnv, listeningServer, rawPost, testPlugin } from '../node/server.mjs';

export { testPlugin };

export const ADMIN_TOKEN = 'admin-token-5e8a';
export const MCP_TOKEN = 'mcp-token-a41c';

export function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `wasimancer-${prefix}-`));
}

export async function startServer({ env = {}, cwd, args = [] } = {}) {
  const serverEnv = cleanEnv({ WASIMANCER_ADMIN_TOKEN: ADMIN_TOKEN, WASIMANCER_AUTHENTICATION_TOKEN: MCP_TOKEN, ...env });
  return new Server(await listeningServer(args, { cwd, env: serverEnv }));
}

export class Server {
  // `child`: listeningServer's handle.
  constructor(child) {
    this.child = child;
    this.port = child.port;
    this.base = `http://127.0.0.1:${child.port}`;
    this.authHeaders = { Authorization: `Bearer ${MCP_TOKEN}` };  // for rawPost
  }

  stop() {
    return this.child.stop(5000);
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
    const res = await fetch(this.base + p, { method, headers: h, body });
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
    const res = await rawPost(this, { jsonrpc: '2.0', id, method, params }, { headers: { Accept: sse ? ACCEPT_BOTH : 'application/json' } });
    if (res.status !== 200) throw new Error(`${method}: HTTP ${res.status}: ${res.text}`);
    const answer = sse ? res.messages?.find((m) => m.id === id) : res.json;
    if (!answer) throw new Error(`${method}: no answer${sse ? ' in the SSE stream' : ''}: ${res.text}`);
    return answer;
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
  const out = execFileSync('python3', ['-c', 'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', file]);
  return JSON.parse(out.toString());
}
