// Issue 15, the transport on a real server (loopback sockets):
//  - slowloris before authentication: hundreds of connections from other addresses sending a
//    header byte at a time leave a legitimate client at least 95% of its requests (header
//    deadline, per-address limit, a share of the connection cap kept for authenticated
//    traffic), and the lines about refused connections are rate-limited;
//  - a legacy SSE client that stops reading is disconnected and its session ended, and the
//    server's memory does not grow with the answers it could not send;
//  - a client that reads too slowly to keep up is cut after the write timeout (the deadline is
//    not renewed at every chunk);
//  - sequential SSE answers on one keep-alive connection each end at once (their last chunk
//    never waits for the keep-alive timer);
//  - an SSE stream ends when its session is deleted, and its connection is freed as soon as its
//    client closes it (not at the next keep-alive comment); a legacy session ends with its stream;
//  - graceful shutdown on SIGTERM: a call in flight that ends before the deadline gets its
//    answer, one that does not gets a JSON-RPC error, an SSE stream is ended cleanly, new
//    connections are refused, exit status 0.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { after, describe } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { guard, startServer, testPlugin, withTimeout } from '../node/server.mjs';

const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

// One MCP request (POST unless `method` says otherwise) on a new connection from 127.0.0.1
// (Connection: close); resolves with
// { status, json, text, headers } or { error }.
function freshPost(server, body, { timeoutMs = 20000, path = '/mcp', headers = {}, method = 'POST' } = {}) {
  return new Promise((resolve) => {
    const data = JSON.stringify(body);
    const req = http.request({
      host: '127.0.0.1', port: server.port, method, path, agent: false, localAddress: '127.0.0.1',
      headers: {
        'Content-Type': 'application/json', Accept: 'application/json', Connection: 'close',
        'Content-Length': Buffer.byteLength(data), ...server.authHeaders, ...headers,
      },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, json, text, headers: res.headers });
      });
      res.on('error', (error) => resolve({ error }));
    });
    req.on('error', (error) => resolve({ error }));
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.end(data);
  });
}

const call = (id, name, args = {}) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });

// Opens a legacy SSE stream (GET /sse) on a raw socket; resolves once the endpoint event has
// arrived with { socket, endpoint, closed (a promise), received() (bytes so far) }.
function openLegacySse(server) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port: server.port });
    let text = '';
    let bytes = 0;
    let done = false;
    const closed = new Promise((r) => socket.once('close', r));
    socket.on('error', () => {});
    socket.on('data', (d) => {
      bytes += d.length;
      if (done) return;
      text += d.toString('latin1');
      const m = /event: endpoint\r?\ndata: ([^\r\n]+)/.exec(text);
      if (m) {
        done = true;
        resolve({ socket, endpoint: m[1], closed, received: () => bytes });
      }
    });
    socket.once('close', () => { if (!done) reject(new Error(`the SSE stream closed before its endpoint event: ${text}`)); });
    socket.write(`GET /sse HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nAccept: text/event-stream\r\n` +
      `Authorization: ${server.authHeaders.Authorization}\r\n\r\n`);
  });
}

const initLegacy = async (server, endpoint) => {
  const init = await freshPost(server, { jsonrpc: '2.0', id: 0, method: 'initialize',
    params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 't', version: '1' } } }, { path: endpoint });
  assert.equal(init.status, 202, init.text);
  const note = await freshPost(server, { jsonrpc: '2.0', method: 'notifications/initialized' }, { path: endpoint });
  assert.equal(note.status, 202, note.text);
};

const bulkPlugins = {
  plugins: [
    { name: 'echo', path: './echo.wasm', functions: [{ function: 'echo', arguments: [{ name: 'text', type: 'string' }] }] },
    { name: 'bulk', path: './bulk.wasm', timeoutMs: 20000,
      functions: [{ function: 'repeat', arguments: [{ name: 'n', type: 'string' }] }] },
  ],
};

describe('slowloris before authentication', () => {
  const g = guard({ timeout: 90000 });
  let server;
  g.before(async () => {
    server = await startServer({
      wasm: [testPlugin('echo'), testPlugin('bulk')],
      plugins: bulkPlugins,
      env: { WASIMANCER_MAX_CONNECTIONS: '64', WASIMANCER_MAX_CONNECTIONS_PER_ADDRESS: '16', WASIMANCER_HEADER_TIMEOUT: '2' },
    });
  });
  after(() => server?.stop());

  g.it('leaves a legitimate client at least 95% of its requests, with few log lines', async () => {
    const attackers = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9'];
    const perAddress = 40;  // 320 connections wanted, five times the cap
    let stop = false;
    let opened = 0;
    let closedByServer = 0;
    const sockets = new Set();
    // One slowloris connection: a request line, then a header byte every 500 ms, never the end;
    // reconnects when the server closes it.
    const loris = (address) => {
      if (stop) return;
      const s = net.connect({ host: '127.0.0.1', port: server.port, localAddress: address });
      sockets.add(s);
      let timer;
      s.on('connect', () => {
        opened++;
        s.write('POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
        timer = setInterval(() => s.write('a'), 500);
      });
      s.on('error', () => {});
      s.on('close', () => {
        clearInterval(timer);
        sockets.delete(s);
        if (stop) return;
        closedByServer++;
        setTimeout(() => loris(address), 20);
      });
    };
    for (const a of attackers) for (let i = 0; i < perAddress; i++) loris(a);
    try {
      // The attack is in place: the server holds (and keeps closing) far more than it admits.
      const t0 = Date.now();
      while (opened < 200 && Date.now() - t0 < 20000) await sleep(50);
      assert.ok(opened >= 200, `the attack opened only ${opened} connections`);
      await sleep(1000);
      let ok = 0;
      const failures = [];
      const total = 100;
      for (let i = 0; i < total; i++) {
        const r = await freshPost(server, call(i, 'echo', { text: `hello ${i}` }), { timeoutMs: 15000 });
        if (r.status === 200 && r.json?.result?.content?.[0]?.text === JSON.stringify({ text: `hello ${i}` })) ok++;
        else failures.push(r.error?.message ?? `${r.status} ${r.text?.slice(0, 100)}`);
        await sleep(50);
      }
      assert.ok(ok >= 0.95 * total, `the legitimate client got ${ok} of ${total} answers; failures: ${failures.slice(0, 5).join('; ')}`);
      assert.ok(closedByServer > 64, `the server closed only ${closedByServer} attacking connections (the limits did not act)`);
      // The refusals and evictions were many; their log lines are throttled per kind (10 at
      // once, then one every 6 s): three kinds at most (refused, evicted, accept errors).
      const lines = server.stderr.split('\n').filter((l) => /connection from .* refused|to make room|accept failed/.test(l));
      const bound = 3 * (10 + Math.ceil((Date.now() - t0) / 6000) + 1);
      assert.ok(lines.length <= bound, `${lines.length} log lines about refused connections (bound ${bound}, ${closedByServer} closed)`);
    } finally {
      stop = true;
      for (const s of sockets) s.destroy();
    }
  });
});

describe('SSE clients that do not keep up', () => {
  const g = guard({ timeout: 90000 });
  let server;
  g.before(async () => {
    server = await startServer({
      wasm: [testPlugin('echo'), testPlugin('bulk')],
      plugins: bulkPlugins,
      env: { WASIMANCER_MAX_STREAM_QUEUE_BYTES: String(4 << 20), WASIMANCER_WRITE_TIMEOUT: '2', WASIMANCER_WORKERS: '2' },
    });
  });
  after(() => server?.stop());

  g.it('disconnects a legacy SSE client that stopped reading, ends its session and frees the queue', async () => {
    const sse = await openLegacySse(server);
    await initLegacy(server, sse.endpoint);
    sse.socket.pause();  // the client stops reading
    const rssBefore = rssKiB(server.proc.pid);
    // 100 answers of 1 MiB (100 MiB if the server kept them for the client).
    for (let i = 0; i < 100; i++) {
      const r = await freshPost(server, call(i + 1, 'repeat', { n: String(1 << 20) }), { path: sse.endpoint });
      if (r.status === 404) break;  // already ended
      assert.equal(r.status, 202, r.text);
    }
    // The calls run after their POSTs were accepted: wait until the session is gone.
    let ended = false;
    const t0 = Date.now();
    while (!ended && Date.now() - t0 < 60000) {
      const r = await freshPost(server, { jsonrpc: '2.0', method: 'notifications/initialized' }, { path: sse.endpoint });
      if (r.status === 404) ended = true;
      else await sleep(200);
    }
    assert.ok(ended, 'the session was still alive 60 s after 100 MiB of answers the client did not read');
    const growthMiB = (rssKiB(server.proc.pid) - rssBefore) / 1024;
    // The queue is bounded by 4 MiB, the calls in flight hold a few MiB more.
    assert.ok(growthMiB < 64, `the server grew by ${growthMiB.toFixed(1)} MiB`);
    sse.socket.resume();
    await sse.closed;  // the server closed the connection
  });

  g.it('cuts a client that reads too slowly after the write timeout (not renewed per chunk)', async () => {
    const big = await startServer({
      wasm: [testPlugin('echo'), testPlugin('bulk')],
      plugins: bulkPlugins,
      env: { WASIMANCER_MAX_STREAM_QUEUE_BYTES: String(256 << 20), WASIMANCER_WRITE_TIMEOUT: '2', WASIMANCER_WORKERS: '2' },
    });
    try {
      const sse = await openLegacySse(big);
      await initLegacy(big, sse.endpoint);
      // The client reads, but slowly: a pause of 100 ms after each read (at most ~640 KiB/s),
      // while 40 MiB of answers come: every chunk is taken eventually, the backlog never is.
      sse.socket.on('data', () => {
        sse.socket.pause();
        setTimeout(() => sse.socket.resume(), 100);
      });
      let isClosed = false;
      sse.closed.then(() => { isClosed = true; });
      for (let i = 0; i < 40 && !isClosed; i++) {
        const r = await freshPost(big, call(i + 1, 'repeat', { n: String(1 << 20) }), { path: sse.endpoint });
        if (r.status !== 202) break;  // the session ended: the stream was cut
      }
      const t0 = Date.now();
      while (!isClosed && Date.now() - t0 < 40000) await sleep(100);
      const received = sse.received();
      assert.ok(isClosed, `the slow client was still connected after 40 s (${received} bytes read)`);
      assert.ok(received < 40 * (1 << 20), `the client read everything (${received} bytes): it was not behind`);
    } finally {
      await big.stop();
    }
  });
});

// Requests on one keep-alive connection, answered as SSE (the client accepts both), read with
// a minimal HTTP/1.1 client so that nothing is hidden: resolves each answer's head and chunks
// once its last chunk has arrived. post() sends one request; pipeline() sends several in one
// write, before any answer.
function keepAliveClient(server) {
  const socket = net.connect({ host: '127.0.0.1', port: server.port });
  socket.setNoDelay(true);
  socket.on('error', () => {});
  let buf = Buffer.alloc(0);
  const waiting = [];
  const tryParse = () => {
    while (waiting.length) {
      const headEnd = buf.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const head = buf.subarray(0, headEnd).toString('latin1');
      let pos = headEnd + 4;
      const chunks = [];
      if (/transfer-encoding: chunked/i.test(head)) {
        for (;;) {
          const lineEnd = buf.indexOf('\r\n', pos);
          if (lineEnd < 0) return;
          const size = parseInt(buf.subarray(pos, lineEnd).toString('latin1'), 16);
          if (buf.length < lineEnd + 2 + size + 2) return;
          chunks.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size).toString('utf8'));
          pos = lineEnd + 2 + size + 2;
          if (size === 0) break;
        }
      } else {
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < pos + length) return;
        chunks.push(buf.subarray(pos, pos + length).toString('utf8'));
        pos += length;
      }
      buf = buf.subarray(pos);
      waiting.shift().resolve({ head, chunks, body: chunks.join('') });
    }
  };
  socket.on('data', (d) => { buf = Buffer.concat([buf, d]); tryParse(); });
  socket.on('close', () => { for (const w of waiting.splice(0)) w.reject(new Error('the server closed the connection')); });
  const request = (body, headers) => {
    const data = JSON.stringify(body);
    const all = { Accept: 'application/json, text/event-stream', ...server.authHeaders, ...headers };
    const extra = Object.entries(all).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    return `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(data)}\r\n${extra}\r\n${data}`;
  };
  const answer = () => new Promise((resolve, reject) => { waiting.push({ resolve, reject }); });
  return {
    socket,
    post(body, headers = {}) {
      const p = answer();
      const text = request(body, headers);
      const split = text.indexOf('\r\n\r\n') + 4;  // head and body in two writes, as clients often do
      socket.write(text.slice(0, split));
      socket.write(text.slice(split));
      tryParse();
      return p;
    },
    // Sends a request in pieces, waiting `pauseMs` between them; resolves with its answer.
    async pieces(body, cuts, pauseMs, headers = {}) {
      const p = answer();
      const text = request(body, headers);
      let at = 0;
      for (const cut of [...cuts, text.length]) {
        socket.write(text.slice(at, cut));
        at = cut;
        if (at < text.length) await sleep(pauseMs);
      }
      tryParse();
      return p;
    },
    pipeline(bodies, headers = {}) {
      const answers = bodies.map(() => answer());
      socket.write(bodies.map((b) => request(b, headers)).join(''));
      tryParse();
      return Promise.all(answers);
    },
  };
}

describe('SSE answers on a keep-alive connection', () => {
  const g = guard({ timeout: 180000 });
  let server;
  g.before(async () => {
    server = await startServer({ wasm: [testPlugin('echo'), testPlugin('bulk')], plugins: bulkPlugins });
  });
  after(() => server?.stop());

  // The last chunk of an answer used to wait for the stream's keep-alive timer (15 s) whenever
  // the end of the stream was queued on its own, after the answer's event had been written.
  g.it('ends every answer as soon as it is complete, never after a keep-alive comment', async () => {
    const c = keepAliveClient(server);
    try {
      const init = await c.post({ jsonrpc: '2.0', id: 0, method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
      const sid = /mcp-session-id: (\S+)/i.exec(init.head)?.[1];
      assert.ok(sid, init.head);
      const session = { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-11-25' };
      await c.post({ jsonrpc: '2.0', method: 'notifications/initialized' }, session);
      let sse = 0;
      for (let i = 1; i <= 400; i++) {
        const r = await c.post(call(i, 'echo', { text: `m${i}` }), session);
        assert.match(r.body, new RegExp(`"id":${i},"result"`), r.body);
        assert.ok(!r.body.includes(': keepalive'), `answer ${i} waited for the keep-alive timer: ${JSON.stringify(r.chunks)}`);
        if (/text\/event-stream/i.test(r.head)) sse++;
      }
      assert.equal(sse, 400, 'the answers were not SSE streams');
    } finally {
      c.socket.destroy();
    }
  });

  // A quick answer (SSE or JSON) on a keep-alive connection is written by the worker that
  // produced it (transport: StreamWaiter::try_direct); with Connection: close, by the network
  // thread. The bytes must be the same, and an answer larger than the socket takes at once must
  // arrive whole.
  g.it('writes the same bytes whichever thread writes the answer', async () => {
    // wasimancer_http_direct_writes_total counts the answers a worker sent itself.
    const directWrites = async () => {
      const r = await fetch(`${server.base}/metrics`, { headers: { Authorization: `Bearer ${server.adminToken}` } });
      const m = /^wasimancer_http_direct_writes_total (\d+)/m.exec(await r.text());
      assert.ok(m, 'no wasimancer_http_direct_writes_total in /metrics');
      return Number(m[1]);
    };
    const direct = keepAliveClient(server);
    try {
      const start = await directWrites();
      const cases = [[1, { text: 'a' }], [2, { text: 'é"\\\n' + 'z'.repeat(5000) }], [3, { nope: 1 }]];
      for (const [accept, type] of [['application/json, text/event-stream', /text\/event-stream/i], ['application/json', /application\/json/i]]) {
       for (const [i, args] of cases) {
        const a = await direct.post(call(i, 'echo', args), { Accept: accept });
        const before = await directWrites();
        const strand = keepAliveClient(server);  // the server closes it after its answer
        const b = await strand.post(call(i, 'echo', args), { Accept: accept, Connection: 'close' });
        strand.socket.destroy();
        assert.equal(await directWrites(), before, 'an answer with Connection: close was written by its worker');
        assert.match(a.head, type);
        assert.equal(a.head, b.head.split('\r\n').filter((l) => !/^connection: close$/i.test(l)).join('\r\n'));
        assert.deepEqual(a.chunks, b.chunks);
        assert.match(a.body, new RegExp(`"id":${i},`));
       }
      }
      // The worker writes a quick answer when the connection's thread is waiting for it first,
      // which is a race it wins most of the time: among 30 more answers, some were direct.
      for (let i = 10; i < 40; i++) await direct.post(call(i, 'echo', { text: 'q' }), { Accept: i % 2 ? 'application/json' : 'application/json, text/event-stream' });
      assert.ok(await directWrites() > start, 'no answer on the kept-alive connection was written by its worker');
    } finally {
      direct.socket.destroy();
    }
  });

  g.it('delivers an answer larger than the socket takes at once, whole, to a client that reads late', async () => {
    const c = keepAliveClient(server);
    try {
      const n = 3 << 20;  // under the 4 MiB output limit
      for (const accept of ['application/json, text/event-stream', 'application/json']) {
        c.socket.pause();  // the kernel's buffers fill: the worker's non-blocking send is partial
        const pending = c.post(call(7, 'repeat', { n: String(n) }), { Accept: accept });
        await sleep(500);
        c.socket.resume();
        const r = await pending;
        const json = r.body.startsWith('{') ? r.body : r.body.slice(r.body.indexOf('data: ') + 6);
        const text = JSON.parse(json).result.content[0].text;
        assert.equal(text.length, n);
        assert.ok(/^x+$/.test(text));
      }
      const next = await c.post(call(8, 'echo', { text: 'after' }));  // the connection goes on
      assert.match(next.body, /"id":8,"result".*after/);
    } finally {
      c.socket.destroy();
    }
  });

  g.it('answers pipelined requests in order', async () => {
    const c = keepAliveClient(server);
    try {
      for (let round = 0; round < 20; round++) {
        const ids = [1, 2, 3].map((k) => round * 10 + k);
        const answers = await c.pipeline(ids.map((id) => call(id, 'echo', { text: `p${id}` })));
        answers.forEach((a, k) => assert.match(a.body, new RegExp(`"id":${ids[k]},"result".*p${ids[k]}`), a.body));
      }
    } finally {
      c.socket.destroy();
    }
  });

  // While an answer is on its way, the connection reads what the client sends next into its
  // buffer (transport: StreamWaiter::watch); what it read is the start of the next request and
  // must be kept, however the request is cut, whether the answer was quick (written by the
  // worker) or slow (written by the network thread), SSE or JSON.
  g.it('keeps every byte of a request that arrives in pieces while the previous answer is on its way', async () => {
    const c = keepAliveClient(server);
    try {
      for (let i = 0; i < 24; i++) {
        const accept = i % 2 ? 'application/json' : 'application/json, text/event-stream';
        const slow = i % 3 === 2;
        const first = slow ? c.post(call(1000 + i, 'repeat', { n: String(1 << 20) }), { Accept: accept })
                           : c.post(call(1000 + i, 'echo', { text: `first${i}` }), { Accept: accept });
        // The next request starts before the first is answered: a few bytes, then the rest of its
        // head, then its body.
        const next = c.pieces(call(2000 + i, 'echo', { text: `next${i}` }), [3 + i, 40 + i], 15, { Accept: accept });
        const a = await first;
        assert.match(a.body, new RegExp(`"id":${1000 + i},"result"`), a.body.slice(0, 200));
        const b = await next;
        assert.match(b.body, new RegExp(`"id":${2000 + i},"result".*next${i}`), b.body);
        // ...and one that starts after the answer, when the connection waits for it.
        await sleep(5);
        const after = await c.pieces(call(3000 + i, 'echo', { text: `after${i}` }), [1 + i, 30], 15, { Accept: accept });
        assert.match(after.body, new RegExp(`"id":${3000 + i},"result".*after${i}`), after.body);
      }
    } finally {
      c.socket.destroy();
    }
  });

  // A client that ends its stream once it has its answer (curl, scripts) is closed at once: the
  // watch that met the end of the stream must not leave the connection waiting for a request
  // (it stayed in CLOSE-WAIT, and 128 such clients used up the address's connections).
  g.it('closes the connection of a client that ends its stream after its answer', async () => {
    for (let i = 0; i < 40; i++) {
      const c = keepAliveClient(server);
      const accept = i % 2 ? 'application/json' : 'application/json, text/event-stream';
      const r = await c.post(call(4000 + i, 'echo', { text: `bye${i}` }), { Accept: accept });
      assert.match(r.body, new RegExp(`"id":${4000 + i},"result"`), r.body);
      let timer;
      const closed = new Promise((resolve) => {
        c.socket.once('close', () => resolve(true));
        timer = setTimeout(() => resolve(false), 20000);
      });
      c.socket.end();
      const ok = await closed;
      clearTimeout(timer);
      c.socket.destroy();
      assert.ok(ok, `connection ${i}: the server did not close it within 20 s of the client's end of stream`);
    }
  });

  g.it('survives clients that leave before or while their answer is written', async () => {
    for (let i = 0; i < 200; i++) {
      const c = keepAliveClient(server);
      const p = c.post(call(i, i % 2 ? 'repeat' : 'echo', i % 2 ? { n: String(1 << 20) } : { text: 'gone' })).catch(() => {});
      if (i % 3) await sleep(0);
      c.socket.destroy();
      await p;
    }
    const c = keepAliveClient(server);
    try {
      const r = await c.post(call(999, 'echo', { text: 'still here' }));
      assert.match(r.body, /still here/);
    } finally {
      c.socket.destroy();
    }
  });
});

// A worker that writes an answer itself can be preempted between its send and the state it
// leaves; the client then has its answer and sends its next request before the connection knows
// the write is over. The connection neither spins for the worker nor waits out its 1 s hold:
// the worker wakes it once its write is done (transport: StreamWaiter::settle and end_write).
// A pause point holds that window open for 50 ms after every direct write.
describe('a next request that arrives while its worker is still in the direct write', () => {
  const g = guard({ timeout: 180000 });
  let server;
  g.before(async () => {
    server = await startServer({ wasm: [testPlugin('echo'), testPlugin('bulk')], plugins: bulkPlugins,
      env: { WASIMANCER_TEST_PAUSE_POINT: 'direct-written:50' } });
  });
  after(() => server?.stop());

  g.it('answers every request in order, woken by the worker rather than by the 1 s hold', async () => {
    const directWrites = async () => {
      const r = await fetch(`${server.base}/metrics`, { headers: { Authorization: `Bearer ${server.adminToken}` } });
      return Number(/^wasimancer_http_direct_writes_total (\d+)/m.exec(await r.text())?.[1] ?? NaN);
    };
    const before = await directWrites();
    const c = keepAliveClient(server);
    const took = [];
    try {
      for (let i = 0; i < 30; i++) {
        const accept = i % 2 ? 'application/json' : 'application/json, text/event-stream';
        const started = performance.now();
        const r = await c.post(call(i, 'echo', { text: `w${i}` }), { Accept: accept });
        took.push(performance.now() - started);
        assert.match(r.body, new RegExp(`"id":${i},"result".*w${i}`), r.body);
      }
    } finally {
      c.socket.destroy();
    }
    assert.ok(await directWrites() - before >= 30, 'the answers were not written by their workers');
    // Each answer after the first waits for the previous worker's 50 ms pause; without the
    // worker's wake it would wait for the connection's 1 s hold instead.
    const median = took.slice(1).sort((a, b) => a - b)[Math.floor((took.length - 1) / 2)];
    assert.ok(median < 500, `median answer time ${median.toFixed(0)} ms: the connection waited for its hold, not for the worker`);
  });
});

// The loop may switch the direct write off (disarm) while a worker is looking at the stream and
// backs out (a progress notification comes before the answer). It must then be off: an answer
// left armed was sent by its worker while the loop wrote the same stream, and the loop then
// waited for an end the worker had taken (keep-alive chunks after the last chunk, the next
// request unanswered). A pause point holds each back-out open 30 ms, so the loop, woken by the
// previous notification, disarms meanwhile.
describe('notifications before a quick answer while the loop switches the direct write off', () => {
  const g = guard({ timeout: 180000 });
  let server;
  g.before(async () => {
    server = await startServer({
      wasm: [testPlugin('echo'), testPlugin('mcp_features')],
      plugins: { plugins: [
        { name: 'echo', path: './echo.wasm', functions: [{ function: 'echo', arguments: [{ name: 'text', type: 'string' }] }] },
        { name: 'features', path: './mcp_features.wasm', functions: [{ displayName: 'progress_steps', function: 'progress_steps' }] },
      ] },
      // In-process: the plugin's next notification follows the loop's wake within microseconds.
      env: { WASIMANCER_TEST_PAUSE_POINT: 'direct-backout:30', WASIMANCER_ISOLATION: 'none' },
    });
  });
  after(() => server?.stop());

  g.it('writes each answer once, whole and in order, and answers the next request', async () => {
    const c = keepAliveClient(server);
    try {
      const init = await c.post({ jsonrpc: '2.0', id: 0, method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
      const sid = /mcp-session-id: (\S+)/i.exec(init.head)?.[1];
      assert.ok(sid, init.head);
      // (2025-06-18: answers are not resumable, so no priming event is queued before the worker's parts)
      const session = { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-06-18' };
      await c.post({ jsonrpc: '2.0', method: 'notifications/initialized' }, session);
      for (let i = 1; i <= 12; i++) {
        const body = { jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'progress_steps', arguments: {}, _meta: { progressToken: `p${i}` } } };
        const r = await withTimeout(c.post(body, session), 10000, `progress call ${i}: no answer within 10 s`);
        const events = r.body.split('\n').filter((l) => l.startsWith('data: ') && l.length > 6)
          .map((l) => JSON.parse(l.slice(6)));
        assert.deepEqual(events.filter((m) => m.method === 'notifications/progress').map((m) => m.params.progress), [1, 2, 3], r.body);
        assert.equal(events.at(-1).id, i, r.body);
        assert.match(JSON.stringify(events.at(-1).result), /done/, r.body);
        assert.ok(!r.body.includes(': keepalive'), `answer ${i} has keep-alive comments: ${r.body}`);
        const e = await withTimeout(c.post(call(100 + i, 'echo', { text: `after${i}` }), session), 10000, `echo after call ${i}: no answer within 10 s`);
        assert.match(e.body, new RegExp(`"id":${100 + i},"result".*after${i}`), e.body);
      }
    } finally {
      c.socket.destroy();
    }
  });
});

// A session's standalone SSE stream (GET /mcp) on a raw socket; resolves once its head has
// arrived with { socket, ended (the last chunk arrived), closed }.
function openGetStream(server, sid) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port: server.port });
    socket.on('error', () => {});
    let text = '';
    let headSeen = false;
    let markEnded;
    const ended = new Promise((r) => { markEnded = r; });
    const closed = new Promise((r) => socket.once('close', r));
    socket.on('data', (d) => {
      text += d.toString('latin1');
      if (!headSeen && text.includes('\r\n\r\n')) {
        headSeen = true;
        if (!/^HTTP\/1\.1 200/.test(text)) reject(new Error(`GET /mcp answered ${text.slice(0, 200)}`));
        else resolve({ socket, ended, closed });
      }
      if (headSeen && /\r\n0\r\n\r\n$/.test(text)) markEnded();
    });
    socket.once('close', () => { if (!headSeen) reject(new Error('closed before the head')); });
    socket.write(`GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nAccept: text/event-stream\r\n` +
      `Authorization: ${server.authHeaders.Authorization}\r\nMcp-Session-Id: ${sid}\r\nMCP-Protocol-Version: 2025-11-25\r\n\r\n`);
  });
}

// Whether the server still holds its end of the connection from `clientPort` (established, or
// half-closed by the client and not yet closed by the server), from /proc/net/tcp.
function serverHolds(serverPort, clientPort) {
  const hex = (n) => n.toString(16).toUpperCase().padStart(4, '0');
  return fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1).some((line) => {
    const f = line.trim().split(/\s+/);
    return f.length > 3 && f[1].endsWith(`:${hex(serverPort)}`) && f[2].endsWith(`:${hex(clientPort)}`) && (f[3] === '01' || f[3] === '08');
  });
}
async function waitFor(what, predicate, timeoutMs = 60000) {
  const t0 = Date.now();
  while (!(await predicate())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await sleep(100);
  }
}

// With a keep-alive comment only every hour, nothing but the server's own bookkeeping can free
// these connections: a write on a half-closed socket would otherwise be the first sign.
describe('SSE streams whose session or client is gone', () => {
  const g = guard({ timeout: 120000 });
  let server;
  g.before(async () => {
    server = await startServer({
      wasm: [testPlugin('echo'), testPlugin('bulk')], plugins: bulkPlugins,
      env: { WASIMANCER_SSE_KEEPALIVE: '3600', WASIMANCER_IDLE_TIMEOUT: '2' },
    });
  });
  after(() => server?.stop());

  // A new 2025-11-25 session (its id).
  const sessionId = async () => {
    const init = await freshPost(server, { jsonrpc: '2.0', id: 0, method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
    assert.equal(init.status, 200, init.text);
    return init.headers['mcp-session-id'];
  };

  g.it('ends the GET stream of a session deleted by its client', async () => {
    const sid = await sessionId();
    assert.ok(sid);
    const stream = await openGetStream(server, sid);
    try {
      const del = await freshPost(server, {}, { headers: { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-11-25' }, method: 'DELETE' });
      assert.ok(del.status === 200 || del.status === 204, `DELETE answered ${del.status} ${del.text}`);
      await Promise.race([stream.ended, sleep(60000).then(() => { throw new Error('the GET stream was still open 60 s after DELETE'); })]);
      // Its connection is then an idle keep-alive connection, closed after WASIMANCER_IDLE_TIMEOUT.
      await stream.closed;
    } finally {
      stream.socket.destroy();
    }
  });

  // A quick answer written by the worker leaves its pump waiting for the socket; a client that
  // then sends nothing must still meet the idle timeout, whichever way it asked for the answer.
  g.it('closes an idle keep-alive connection after an answer its worker wrote', async () => {
    for (const accept of ['application/json', 'application/json, text/event-stream']) {
      const c = keepAliveClient(server);
      const closed = new Promise((resolve) => c.socket.on('close', resolve));
      const r = await c.post(call(1, 'echo', { text: 'then idle' }), { Accept: accept });
      assert.match(r.body, /then idle/);
      await Promise.race([closed, sleep(60000).then(() => { throw new Error(`still open 60 s after the answer (${accept})`); })]);
    }
  });

  g.it('frees the connection of a GET stream whose client closed it', async () => {
    const sid = await sessionId();
    const stream = await openGetStream(server, sid);
    const clientPort = stream.socket.localPort;
    assert.ok(serverHolds(server.port, clientPort), 'no server socket for the stream');
    stream.socket.destroy();
    await waitFor('the connection closed by the server', () => !serverHolds(server.port, clientPort));
  });

  g.it('ends a legacy session whose client closed its SSE stream', async () => {
    const sse = await openLegacySse(server);
    await initLegacy(server, sse.endpoint);
    sse.socket.destroy();
    await waitFor('the session ended', async () => {
      const r = await freshPost(server, { jsonrpc: '2.0', method: 'notifications/initialized' }, { path: sse.endpoint });
      return r.status === 404;
    });
  });
});

describe('graceful shutdown', () => {
  const g = guard({ timeout: 60000 });
  let server;
  g.before(async () => {
    server = await startServer({
      wasm: [testPlugin('hostile'), testPlugin('echo')],
      plugins: {
        plugins: [
          { name: 'short', path: './hostile.wasm', timeoutMs: 1500, functions: [{ displayName: 'short', function: 'infinite_loop' }] },
          { name: 'long', path: './hostile.wasm', timeoutMs: 60000, functions: [{ displayName: 'long', function: 'infinite_loop' }] },
          { name: 'echo', path: './echo.wasm', functions: [{ function: 'echo', arguments: [{ name: 'text', type: 'string' }] }] },
        ],
      },
      env: { WASIMANCER_SHUTDOWN_TIMEOUT: '4', WASIMANCER_WORKERS: '4' },
    });
  });
  after(() => server?.stop());

  g.it('finishes calls in flight, answers the rest with an error, ends SSE streams, exits 0', async () => {
    // A legacy SSE stream, read as an HTTP response: 'end' only after the last chunk.
    const sseEnd = new Promise((resolve) => {
      const req = http.request({ host: '127.0.0.1', port: server.port, path: '/sse', agent: false,
        headers: { Accept: 'text/event-stream', ...server.authHeaders } }, (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve('end'));
        res.on('aborted', () => resolve('aborted'));
        res.on('error', (e) => resolve(`error: ${e.message}`));
      });
      req.on('error', (e) => resolve(`error: ${e.message}`));
      req.end();
    });
    // Wait until both calls run (the server logs nothing per start: give them a moment to reach
    // the workers; the short one ends 1.5 s after it starts, well inside the 4 s grace).
    const short = freshPost(server, call(1, 'short'), { timeoutMs: 30000 });
    const long = freshPost(server, call(2, 'long'), { timeoutMs: 30000 });
    await sleep(500);
    const term = server.terminate(30000);
    await sleep(200);
    const late = await freshPost(server, call(3, 'echo', { text: 'late' }), { timeoutMs: 5000 });
    const [s, l, exit, sse] = await Promise.all([short, long, term, sseEnd]);
    assert.equal(s.status, 200, s.error?.message ?? s.text);
    assert.equal(s.json?.result?.isError, true, s.text);
    assert.match(s.json.result.content[0].text, /timeout|time limit|timed out/i, 'the call ran to its own end');
    assert.equal(l.status, 200, l.error?.message ?? l.text);
    assert.equal(l.json?.error?.code, -32000, l.text);
    assert.match(l.json.error.message, /shutting down/);
    assert.ok(late.error || late.status === 503, `a request after SIGTERM got ${late.status} ${late.text}`);
    assert.equal(sse, 'end', 'the SSE stream was ended with its last chunk');
    assert.equal(exit.killed, undefined, 'the server exited by itself');
    assert.equal(exit.code, 0);
    assert.ok(exit.ms < 15000, `shutdown took ${exit.ms} ms`);
  });
});
