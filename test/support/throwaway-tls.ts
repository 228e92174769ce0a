import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * A throwaway certificate authority and a server certificate for 127.0.0.1, made with Debian's
 * openssl in a directory the test owns. The browser is told to trust exactly this certificate by
 * its public key (Chromium's --ignore-certificate-errors-spki-list takes base64 SHA-256 hashes of
 * the SubjectPublicKeyInfo), and node clients get the CA: nothing else becomes trusted.
 */
export interface ThrowawayTls {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly ca: string;
  /** base64(SHA-256(DER SubjectPublicKeyInfo)) of the server certificate. */
  readonly spkiSha256: string;
}

export function makeThrowawayTls(dir: string, commonName = 'temporal-envelope test codec server'): ThrowawayTls {
  const f = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => {
    try {
      execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
      if (e.code === 'ENOENT') throw new Error('openssl not found: scripts/setup-test-deps.mjs installs it (Debian package openssl)');
      throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString() ?? e.message}`);
    }
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=temporal-envelope throwaway test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
  openssl('req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', `/CN=${commonName}`);
  writeFileSync(f('server.ext'), 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '2', '-extfile', f('server.ext'));
  const cert = new X509Certificate(readFileSync(f('server.pem')));
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return {
    caFile: f('ca.pem'),
    certFile: f('server.pem'),
    keyFile: f('server.key'),
    ca: readFileSync(f('ca.pem'), 'utf8'),
    spkiSha256: createHash('sha256').update(spki).digest('base64'),
  };
}
