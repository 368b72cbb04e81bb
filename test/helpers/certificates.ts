/**
 * Test certificates made with the `openssl` command (Debian package `openssl`) in a temporary
 * directory: a CA, server certificates for 127.0.0.1 signed by it, client certificates (one
 * without a CN, one expired), and a second, unrelated CA with a client certificate of its own.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A certificate and its private key, as PEM file paths. */
export interface KeyPair {
  cert: string;
  key: string;
}

/** Every file the TLS tests use. */
export interface TestCertificates {
  dir: string;
  /** The CA that signs the server and the good client certificates. */
  ca: KeyPair;
  /** Server certificate for IP 127.0.0.1 (subjectAltName), signed by `ca`. */
  server: KeyPair;
  /** A second server certificate for 127.0.0.1 with another key: what a renewal swaps in. */
  renewedServer: KeyPair;
  /** Client certificate, subject CN=sensor-1, O=Fennec, signed by `ca`. */
  client: KeyPair;
  /** Client certificate without a CN (O=Fennec, OU=devices), signed by `ca`. */
  clientWithoutCn: KeyPair;
  /** Client certificate CN=expired-sensor signed by `ca`, valid only for a day in 2020. */
  expiredClient: KeyPair;
  /** A CA that has nothing to do with `ca`. */
  otherCa: KeyPair;
  /** Client certificate CN=intruder signed by `otherCa`. */
  otherClient: KeyPair;
  /** Removes the directory. */
  remove(): void;
}

const config = (dir: string): string => `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
[client]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
[ca]
default_ca = ca_default
[ca_default]
database = ${join(dir, 'index.txt')}
new_certs_dir = ${dir}
serial = ${join(dir, 'serial')}
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
[policy_any]
commonName = supplied
`;

/** Makes every certificate; synchronous, for a `before` hook. Throws with openssl's stderr when a step fails. */
export function makeTestCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'fennec-tls-'));
  const cnf = join(dir, 'openssl.cnf');
  writeFileSync(cnf, config(dir));
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '1000\n');
  const openssl = (args: string[]): void => {
    try {
      execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
      throw new Error(`openssl ${args.join(' ')} failed: ${stderr || String(err)}`);
    }
  };
  const file = (name: string): string => join(dir, name);
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const ca = (name: string, subject: string): KeyPair => {
    const pair = { cert: file(`${name}.pem`), key: file(`${name}.key`) };
    openssl(
      [
        'req',
        '-x509',
        '-config',
        cnf,
        '-extensions',
        'v3_ca',
        ...newKey,
        '-keyout',
        pair.key,
        '-out',
        pair.cert,
      ].concat(['-days', '3650', '-subj', subject]),
    );
    return pair;
  };
  const request = (name: string, subject: string): { csr: string; key: string } => {
    const csr = file(`${name}.csr`);
    const key = file(`${name}.key`);
    openssl(['req', '-new', '-config', cnf, ...newKey, '-keyout', key, '-out', csr, '-subj', subject]);
    return { csr, key };
  };
  const signed = (name: string, subject: string, issuer: KeyPair, extensions: 'server' | 'client'): KeyPair => {
    const { csr, key } = request(name, subject);
    const cert = file(`${name}.pem`);
    openssl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      issuer.cert,
      '-CAkey',
      issuer.key,
      '-CAcreateserial',
      '-out',
      cert,
      '-days',
      '3650',
      '-sha256',
      '-extfile',
      cnf,
      '-extensions',
      extensions,
    ]);
    return { cert, key };
  };
  const mainCa = ca('ca', '/CN=Fennec Test CA');
  const otherCa = ca('other-ca', '/CN=Unrelated Test CA');
  // `openssl x509` cannot date a certificate in the past; `openssl ca` can, with -startdate/-enddate.
  const expired = request('expired-client', '/CN=expired-sensor');
  const expiredCert = file('expired-client.pem');
  openssl([
    'ca',
    '-batch',
    '-config',
    cnf,
    '-cert',
    mainCa.cert,
    '-keyfile',
    mainCa.key,
    '-in',
    expired.csr,
    '-out',
    expiredCert,
    '-startdate',
    '20200101000000Z',
    '-enddate',
    '20200102000000Z',
    '-extfile',
    cnf,
    '-extensions',
    'client',
    '-notext',
  ]);
  return {
    dir,
    ca: mainCa,
    server: signed('server', '/CN=127.0.0.1', mainCa, 'server'),
    renewedServer: signed('renewed-server', '/CN=127.0.0.1', mainCa, 'server'),
    client: signed('client', '/O=Fennec/CN=sensor-1', mainCa, 'client'),
    clientWithoutCn: signed('client-no-cn', '/O=Fennec/OU=devices', mainCa, 'client'),
    expiredClient: { cert: expiredCert, key: expired.key },
    otherCa,
    otherClient: signed('other-client', '/CN=intruder', otherCa, 'client'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
