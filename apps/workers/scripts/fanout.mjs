/**
 * A rough fan-out measure of one hub object on local workerd (not part of the tests):
 *
 *   node scripts/fanout.mjs [streams=1000] [broadcasts=20]
 *
 * Opens `streams` streams through the Worker, sends `broadcasts` broadcasts one after another
 * (each written to the object's storage first), and reports how long until every stream had them.
 * The client runs on the same machine, so the figure is a floor for the object, not a ceiling.
 */
import { Agent, get } from 'node:http';
import { startWorker } from './worker.mjs';

const N = Number(process.argv[2] ?? 1000);
const E = Number(process.argv[3] ?? 20);
const w = await startWorker({
  vars: { SSE_PUBLISH_KEY: 'k', SSE_HEARTBEAT_MS: '600000', SSE_MAX_CONNECTIONS: '100000' },
});
const O = `${w.origin}/api/v1/sse`;
const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
let got = 0;
const t0 = Date.now();
await Promise.all(
  Array.from(
    { length: N },
    (_, i) =>
      new Promise((ok, fail) => {
        get(`${O}/stream/g/c${i}`, { agent }, (res) => {
          res.setEncoding('utf8');
          let first = true;
          res.on('data', (d) => {
            if (first) {
              first = false;
              ok();
            }
            got += (d.match(/event: b/g) || []).length;
          });
        }).on('error', fail);
      }),
  ),
);
console.log(`${N} streams open in ${Date.now() - t0} ms`);
const t1 = Date.now();
for (let i = 0; i < E; i++)
  await fetch(`${O}/publish`, {
    method: 'POST',
    headers: { authorization: 'Bearer k', 'content-type': 'application/json' },
    body: JSON.stringify({ event: 'b', data: { i } }),
  });
while (got < N * E) await new Promise((r) => setTimeout(r, 5));
const ms = Date.now() - t1;
console.log(
  `${E} broadcasts x ${N} streams = ${N * E} deliveries in ${ms} ms (${Math.round((N * E) / (ms / 1000))}/s)`,
);
await w.dispose();
process.exit(0);
