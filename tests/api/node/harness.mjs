// Starts the real `ragd serve` on loopback for the node-driven tests:
// a fresh data dir, the sample KB ingested with `ragd ingest`, a tiny
// random-weight model from ragd_api_node_fixture. Environment (set by
// tests/api/CMakeLists.txt): RAGD_BIN, RAGD_FIXTURE, RAGD_KB, RAGD_ARTIFACTS;
// with RAGD_TLS_DIR (cert.pem and key.pem made by ragd_api_test_cert) the
// server speaks HTTPS and the url is https://127.0.0.1:PORT. Node reads the
// trusted certificate from NODE_EXTRA_CA_CERTS at start-up, so ctest sets
// that to the same cert.pem.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is not set (run through ctest)`);
  return v;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Returns {url, port, llmId, dir, log(), stop()}.
// realGlove: use ragd's own GloVe lookup ($RAGD_GLOVE, then the file scripts/setup.sh
// imports) instead of the fixture's tiny random one, so retrieval and the
// extractive answerer behave as calibrated.
export async function startRagd({ llm = true, extra = [], realGlove = false } = {}) {
  const bin = need('RAGD_BIN');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragd-node-'));
  run(need('RAGD_FIXTURE'), [dir, need('RAGD_KB')]);
  const data = path.join(dir, 'data');
  const gloveArgs = realGlove ? [] : ['--glove', path.join(dir, 'glove.bin')];
  run(bin, ['ingest', need('RAGD_KB'), '--data', data, ...gloveArgs, '--quiet']);
  const portFile = path.join(dir, 'port');
  const logFile = path.join(dir, 'server.log');
  const tlsDir = process.env.RAGD_TLS_DIR;
  const tlsArgs = tlsDir ? ['--tls-cert', path.join(tlsDir, 'cert.pem'), '--tls-key', path.join(tlsDir, 'key.pem')] : [];
  const scheme = tlsDir ? 'https' : 'http';
  const host = '127.0.0.1';  // the certificate names it (SAN IP:127.0.0.1)
  const args = ['serve', '--listen', '127.0.0.1:0', '--port-file', portFile, '--data', data, ...gloveArgs,
    '--threads', '2', ...tlsArgs, ...extra];
  if (llm) args.push('--llm', path.join(dir, 'tiny-llm.gguf'), '--audit-log', path.join(dir, 'audit.jsonl'));
  const out = fs.openSync(logFile, 'a');
  const child = spawn(bin, args, { stdio: ['ignore', out, out] });
  let exited = null;
  child.on('exit', (code, sig) => { exited = code ?? sig; });
  const log = () => fs.readFileSync(logFile, 'utf8');
  const deadline = Date.now() + 60000;
  let port = 0;
  while (Date.now() < deadline) {
    if (exited !== null) throw new Error(`ragd serve exited (${exited}):\n${log()}`);
    if (fs.existsSync(portFile)) {
      port = parseInt(fs.readFileSync(portFile, 'utf8'), 10);
      try {
        const r = await fetch(`${scheme}://${host}:${port}/healthz`);
        if (r.ok) break;
      } catch { /* not yet */ }
    }
    await sleep(50);
  }
  if (!port) throw new Error(`ragd serve did not start:\n${log()}`);
  return {
    url: `${scheme}://${host}:${port}`, port, dir, llmId: 'tiny-llm', log, tls: !!tlsDir,
    async stop() {
      if (exited === null) {
        child.kill('SIGTERM');
        for (let i = 0; i < 300 && exited === null; ++i) await sleep(50);
        if (exited === null) child.kill('SIGKILL');
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// A tiny assertion helper that names what failed.
export function check(cond, what, got) {
  if (!cond) throw new Error(`check failed: ${what}${got !== undefined ? ' — got ' + JSON.stringify(got) : ''}`);
}
