/**
 * The node:http example behind nginx, as the conformance fixture `node:http behind nginx` runs it:
 * starts src/main.ts (plain HTTP on a free port), then Debian's nginx in the foreground with
 * ../nginx/nginx.conf, in which only the listen port (PORT), the app's port, the certificate
 * (TLS_CERT, TLS_KEY) and, when PROXY_READ_TIMEOUT_MS is set, proxy_read_timeout (the suite's
 * `proxy-timeout` check crosses it on the heartbeat in seconds instead of minutes) are replaced. Prints `listening on https://127.0.0.1:<PORT>`.
 *
 * nginx is installed with `apt-get install -y nginx` when missing (as root on Debian, like CI).
 * SIGTERM shuts the app down gracefully (its streams end through nginx), then stops nginx.
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const NGINX = '/usr/sbin/nginx';

const { PORT, TLS_CERT, TLS_KEY, PROXY_READ_TIMEOUT_MS } = process.env;
if (!PORT || PORT === '0' || !TLS_CERT || !TLS_KEY) {
  console.error('behind-nginx: needs PORT (not 0), TLS_CERT and TLS_KEY');
  process.exit(1);
}

if (!existsSync(NGINX)) {
  console.error('behind-nginx: installing nginx from Debian packages (apt-get)...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  execFileSync('apt-get', ['install', '-y', 'nginx'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env,
  });
}

// The app: plain HTTP on a port of its own choosing, behind nginx.
const { TLS_CERT: _cert, TLS_KEY: _key, ...appEnv } = process.env;
const app = spawn(process.execPath, ['--import', 'tsx', join(here, 'main.ts')], {
  env: { ...appEnv, PORT: '0' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const appPort = await new Promise<string>((done, fail) => {
  let output = '';
  app.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
    const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
    if (match) done(match[1]!);
  });
  app.once('exit', (code) => fail(new Error(`the app exited (${code}) before listening`)));
});

// nginx, with the example configuration and this run's ports and certificate.
const prefix = mkdtempSync(join(tmpdir(), 'ssehub-nginx-'));
mkdirSync(join(prefix, 'logs'));
// nginx's workers (www-data) write request bodies past 16 KiB into client_body/ here.
chmodSync(prefix, 0o755);
let config = readFileSync(resolve(here, '../nginx/nginx.conf'), 'utf8');
const replace = (pattern: RegExp, value: string) => {
  if (!pattern.test(config)) throw new Error(`nginx.conf: nothing matches ${pattern}`);
  config = config.replace(pattern, value);
};
replace(/server 127\.0\.0\.1:3000;/, `server 127.0.0.1:${appPort};`);
replace(/listen 8443 ssl http2;/, `listen 127.0.0.1:${PORT} ssl http2;`);
replace(/ssl_certificate \S+;/, `ssl_certificate ${TLS_CERT};`);
replace(/ssl_certificate_key \S+;/, `ssl_certificate_key ${TLS_KEY};`);
replace(/worker_processes auto;/, 'worker_processes 1;');
if (PROXY_READ_TIMEOUT_MS)
  replace(/proxy_read_timeout \S+;/, `proxy_read_timeout ${Number(PROXY_READ_TIMEOUT_MS)}ms;`);
// Everything this nginx writes stays in its own folder.
replace(
  /http \{/,
  [
    'http {',
    `  access_log ${join(prefix, 'logs/access.log')};`,
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
      (name) => `  ${name}_temp_path ${join(prefix, name)};`,
    ),
  ].join('\n'),
);
const configPath = join(prefix, 'nginx.conf');
writeFileSync(configPath, config);
const nginx: ChildProcess = spawn(
  NGINX,
  [
    ...['-p', prefix, '-c', configPath],
    ...['-g', `daemon off; pid ${join(prefix, 'nginx.pid')}; error_log stderr warn;`],
  ],
  { stdio: ['ignore', 'inherit', 'inherit'] },
);
nginx.once('exit', (code) => {
  if (!stopping) {
    console.error(`behind-nginx: nginx exited (${code})`);
    app.kill('SIGKILL');
    process.exit(1);
  }
});

// nginx has no "ready" line: wait until its port accepts connections.
const { connect } = await import('node:net');
for (let tries = 0; ; tries++) {
  const open = await new Promise<boolean>((done) => {
    const socket = connect(Number(PORT), '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
  if (open) break;
  if (tries > 200) throw new Error('nginx did not open its port');
  await new Promise((done) => setTimeout(done, 50));
}
console.log(`listening on https://127.0.0.1:${PORT}`);

let stopping = false;
async function stop(signal: NodeJS.Signals) {
  if (stopping) return;
  stopping = true;
  // The app ends its streams (through nginx, to the clients) and exits; then nginx quits.
  const appExit = new Promise<number | null>((done) => app.once('exit', (code) => done(code)));
  app.kill(signal);
  const code = await appExit;
  const nginxExit = new Promise<void>((done) => nginx.once('exit', () => done()));
  nginx.kill('SIGQUIT');
  await nginxExit;
  rmSync(prefix, { recursive: true, force: true });
  process.exit(code ?? 0);
}
process.once('SIGTERM', () => void stop('SIGTERM'));
process.once('SIGINT', () => void stop('SIGINT'));
app.once('exit', (code) => {
  if (!stopping) {
    console.error(`behind-nginx: the app exited (${code})`);
    nginx.kill('SIGKILL');
    process.exit(1);
  }
});
