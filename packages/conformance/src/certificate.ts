/**
 * The self-signed certificate of ssehub's HTTPS tests (the conformance suite's `tls` fixtures, the
 * demo's HTTP/2 test): made with openssl, which Debian and CI machines have.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let certificate: { TLS_CERT: string; TLS_KEY: string } | undefined;

/**
 * A self-signed certificate for 127.0.0.1 and localhost (EC P-256, valid 2 days), made once per
 * run with openssl into a temporary folder: the PEM paths for `TLS_CERT` and `TLS_KEY`.
 */
export function testCertificate(): { TLS_CERT: string; TLS_KEY: string } {
  if (certificate) return certificate;
  const dir = mkdtempSync(join(tmpdir(), 'ssehub-tls-'));
  const paths = { TLS_CERT: join(dir, 'cert.pem'), TLS_KEY: join(dir, 'key.pem') };
  const result = spawnSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-keyout', paths.TLS_KEY, '-out', paths.TLS_CERT, '-days', '2', '-subj', '/CN=127.0.0.1'],
      ...['-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
    ],
    { encoding: 'utf8' },
  );
  if (result.error || result.status !== 0)
    throw new Error(`openssl could not make a test certificate: ${result.error ?? result.stderr}`);
  certificate = paths;
  return paths;
}
