// One broadcast to 10 000 in-memory sinks: time and bytes allocated, and proof that the event
// is encoded once (every sink receives the very same Uint8Array).
// Run: pnpm --filter @ssehub/core build && node --expose-gc packages/core/bench/broadcast.mjs
import { Hub } from '../dist/index.js';

const CONNECTIONS = Number(process.env.CONNECTIONS ?? 10_000);
const ROUNDS = Number(process.env.ROUNDS ?? 200);
const hub = new Hub({ heartbeatMs: 3_600_000 });
const received = new Set();
let writes = 0;
for (let i = 0; i < CONNECTIONS; i++) {
  hub.connect(
    {
      write(chunk) {
        writes++;
        received.add(chunk);
        return true;
      },
      close() {},
    },
    { group: `g${i % 100}`, id: `u${i}` },
  );
}
const settle = () => new Promise((resolve) => setImmediate(resolve));
await settle();
const event = {
  event: 'rank_update',
  data: { challenge: 42, leader: 'alice', score: 1234, ts: 0 },
};

// Warm up the JIT.
for (let i = 0; i < 50; i++) await hub.broadcast(event);
await settle();

received.clear();
writes = 0;
global.gc();
const heapBefore = process.memoryUsage().heapUsed;
const t0 = process.hrtime.bigint();
await hub.broadcast(event);
await settle();
const single = Number(process.hrtime.bigint() - t0) / 1e6;
const heapAfter = process.memoryUsage().heapUsed;
console.log(
  `one broadcast to ${CONNECTIONS} sinks: ${single.toFixed(2)} ms, ${writes} writes, ${received.size} distinct chunk object(s), heap +${((heapAfter - heapBefore) / 1024).toFixed(1)} KiB (${((heapAfter - heapBefore) / CONNECTIONS).toFixed(1)} B per recipient)`,
);

const times = [];
for (let r = 0; r < ROUNDS; r++) {
  const start = process.hrtime.bigint();
  await hub.broadcast({ ...event, data: { ...event.data, ts: r } });
  await settle();
  times.push(Number(process.hrtime.bigint() - start) / 1e6);
}
times.sort((a, b) => a - b);
const p = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))].toFixed(2);
console.log(
  `${ROUNDS} broadcasts: p50 ${p(0.5)} ms, p99 ${p(0.99)} ms per broadcast = ${(((CONNECTIONS / Number(p(0.5))) * 1000) / 1e6).toFixed(2)} M deliveries/s`,
);
await hub.close();
