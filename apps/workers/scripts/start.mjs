/**
 * `pnpm start`: the Worker on real workerd, locally.
 *
 *   PORT=3000 SSE_PUBLISH_KEY=dev pnpm --filter @ssehub/app-workers start
 *
 * PORT (default 3000; 0 picks a free port and prints it), every `SSE_*` variable (passed to the
 * Worker as plain-text vars, as `[vars]` in wrangler.toml), and SSE_WORKERS_PERSIST: the folder
 * of the Durable Object's storage (default: a temporary one, removed at exit). SIGTERM/SIGINT end
 * every stream and exit 0.
 */

import { sseVariables, startWorker } from './worker.mjs';

const persistTo = process.env.SSE_WORKERS_PERSIST || undefined;
let vars;
try {
  vars = await sseVariables(process.env);
} catch (error) {
  // A malformed or unusable SSE_* variable: say which, and do not start.
  console.error(error instanceof RangeError ? `${error.name}: ${error.message}` : error);
  process.exit(1);
}
// The launcher's own setting, not the Worker's.
delete vars.SSE_WORKERS_PERSIST;
if (vars.SSE_TRUST_CF_CONNECTING_IP === '1') {
  // Locally there is no edge: miniflare fills CF-Connecting-IP from the socket only when a request
  // has none, so a client (on 127.0.0.1, where workerd listens) can choose its address.
  console.warn(
    'SSE_TRUST_CF_CONNECTING_IP=1: locally, a CF-Connecting-IP sent by the client is trusted as is ' +
      '(miniflare sets it from the socket, 127.0.0.1, only when a request has none).',
  );
}
const worker = await startWorker({ port: Number(process.env.PORT ?? 3000), vars, persistTo });
console.log(`listening on ${worker.origin}`);

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  try {
    // Ends every stream first (flushing what was queued), then stops workerd.
    await (await worker.hubObject()).shutdown();
  } finally {
    await worker.dispose();
    process.exit(0);
  }
}
// miniflare's own handlers exit at once (code 143/130) and would cut the streams short; its exit
// hook, which stops workerd, stays.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.removeAllListeners(signal);
  process.on(signal, shutdown);
}
