// A registry that authenticates as Docker Hub and GHCR do (the distribution spec's token
// flow), for dist_oci.sh: it sits in front of a plain docker-registry on loopback.
//   node token_registry.mjs UPSTREAM-PORT USER PASSWORD
// prints its port, then serves:
//   GET /token?service=&scope=   Basic USER:PASSWORD -> {"token": T, "access_token": T}; else 401
//   /v2/...                      with "Authorization: Bearer T" (T issued for the repository's
//                                scope): proxied to the upstream registry; else 401 with
//                                WWW-Authenticate: Bearer realm="http://127.0.0.1:PORT/token",
//                                service="test-registry",scope="repository:REPO:pull"
// Loopback only. Every request is logged to stderr ("GET /v2/... bearer|none -> status").
import crypto from 'node:crypto';
import http from 'node:http';

const [upstreamPort, user, password] = process.argv.slice(2);
const tokens = new Map();  // token -> scope it was issued for

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const log = (status) => process.stderr.write(`${req.method} ${url.pathname} ${req.headers.authorization?.split(' ')[0] ?? 'none'} -> ${status}\n`);
  if (url.pathname === '/token') {
    const basic = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    if (req.headers.authorization !== basic) {
      log(401);
      res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    const token = crypto.randomBytes(16).toString('hex');
    tokens.set(token, url.searchParams.get('scope') ?? '');
    log(200);
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token, access_token: token, expires_in: 300 }));
    return;
  }
  const repo = /^\/v2\/(.+)\/(manifests|blobs|tags)\//.exec(url.pathname)?.[1];
  const scope = repo ? `repository:${repo}:pull` : '';
  const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
  const granted = bearer !== undefined && tokens.has(bearer) && (!repo || tokens.get(bearer).split(' ').some((s) => s.startsWith(`repository:${repo}:`)));
  if (!granted) {
    log(401);
    const challenge = `Bearer realm="http://127.0.0.1:${server.address().port}/token",service="test-registry"${scope ? `,scope="${scope}"` : ''}`;
    res.writeHead(401, { 'WWW-Authenticate': challenge, 'Content-Type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
    return;
  }
  const headers = { ...req.headers, host: `127.0.0.1:${upstreamPort}` };
  delete headers.authorization;
  const up = http.request({ host: '127.0.0.1', port: Number(upstreamPort), method: req.method, path: req.url, headers }, (r) => {
    log(r.statusCode);
    res.writeHead(r.statusCode, r.headers);
    r.pipe(res);
  });
  up.on('error', (e) => { log(502); res.writeHead(502).end(String(e)); });
  req.pipe(up);
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
