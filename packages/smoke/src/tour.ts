/**
 * The root README's "A short tour", turned into a program that ends by itself: the smoke test
 * runs it from the installed tarballs, so the tour a new user copies is the code that is tested.
 */

/** The HTML comment in the root README that sits right above the tour's code block. */
export const TOUR_MARKER = '<!-- tour: packages/smoke runs this block from the packed packages -->';

/** The `ts` code block that follows {@link TOUR_MARKER} in `readme`. */
export function extractTour(readme: string): string {
  const at = readme.indexOf(TOUR_MARKER);
  if (at < 0) throw new Error(`README: no tour marker ${TOUR_MARKER}`);
  const block = /```ts\n([\s\S]*?)\n```/.exec(readme.slice(at + TOUR_MARKER.length));
  if (!block?.[1]) throw new Error('README: no ```ts block after the tour marker');
  return block[1];
}

/** What the wrapper needs from the tour, each found or reported by name. */
export interface TourParts {
  /** The tour's `import` lines. */
  imports: string;
  /** From the first line after the imports up to the first `await hub.` line (server and hub). */
  setup: string;
  /** From the first `await hub.` line to the end (the sends, disconnect and info). */
  sends: string;
}

const LISTEN = '.listen(3000)';

/**
 * Splits the tour where the wrapper steps in and moves its server to a free port, so the test
 * can run while something else holds port 3000.
 */
export function splitTour(tour: string): TourParts {
  const lines = tour.split('\n');
  const importEnd = lines.findIndex((line) => !/^import\s/.test(line));
  const sendsAt = lines.findIndex((line) => line.startsWith('await hub.'));
  if (importEnd <= 0) throw new Error('tour: it does not start with its imports');
  if (sendsAt < importEnd) throw new Error('tour: no `await hub.` line after the imports');
  const setup = lines.slice(importEnd, sendsAt).join('\n');
  if (!setup.includes('const server = ') || !setup.includes(LISTEN)) {
    throw new Error(`tour: the wrapper needs \`const server = ...${LISTEN}\` before the sends`);
  }
  return {
    imports: lines.slice(0, importEnd).join('\n'),
    setup: setup.replace(LISTEN, '.listen(0)'),
    sends: lines.slice(sendsAt).join('\n'),
  };
}

/**
 * The tour wrapped as a TypeScript program (`.mts` for `esm`, `.cts` for `cjs`): a client of
 * `@ssehub/client` (over the `eventsource` package) connects as users/alice before the tour's
 * sends, the program checks that alice receives the tour's unicast and broadcast exactly once,
 * prints what arrived, closes everything and exits; it fails after 30 s rather than hang.
 */
export function smokeProgram(tour: string, format: 'esm' | 'cjs'): string {
  const { imports, setup, sends } = splitTour(tour);
  const body = `const smokeWatchdog = setTimeout(() => {
  console.error('smoke ${format}: timed out');
  process.exit(1);
}, 30_000);

${setup}

// smoke: alice connects before the tour's sends.
await new Promise<void>((resolve) => {
  if (server.listening) resolve();
  else server.once('listening', () => resolve());
});
const smokePort = (server.address() as AddressInfo).port;
const smokeReceived: { id: string; title: string }[] = [];
const smokeClient = createClient<Events>(
  streamUrl(\`http://127.0.0.1:\${smokePort}/api/v1/sse\`, { group: 'users', id: 'alice' }),
  { EventSource },
);
smokeClient.on('notification', (data, meta) => smokeReceived.push({ id: meta.id, title: data.title }));
await new Promise<void>((resolve) => smokeClient.on('connected', () => resolve()));

${sends}

// smoke: the unicast and the broadcast reach alice, once each (the tour's disconnect makes her
// reconnect and replay; a replayed duplicate would show here).
const smokeUntil = Date.now() + 20_000;
while (smokeReceived.length < 2 && Date.now() < smokeUntil) {
  await new Promise((resolve) => setTimeout(resolve, 50));
}
await new Promise((resolve) => setTimeout(resolve, 200));
console.log(\`smoke ${format}: alice received \${JSON.stringify(smokeReceived.map((event) => event.title))}\`);
const smokeIds = new Set(smokeReceived.map((event) => event.id));
if (smokeReceived.length !== 2 || smokeIds.size !== 2) {
  throw new Error(\`smoke ${format}: expected 2 distinct notifications, got \${JSON.stringify(smokeReceived)}\`);
}
smokeClient.close();
await hub.close();
server.closeAllConnections();
await new Promise((resolve) => server.close(resolve));
clearTimeout(smokeWatchdog);
console.log('smoke ${format}: ok');`;

  const header = `${imports}
import type { AddressInfo } from 'node:net';
import { createClient, streamUrl } from '@ssehub/client';
import { EventSource } from 'eventsource';
`;
  if (format === 'esm') return `${header}\n${body}\n`;
  // CommonJS has no top-level await: the same body runs in an async main().
  return `${header}
async function main(): Promise<void> {
${body}
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
`;
}
