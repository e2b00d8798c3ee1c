// Starts and stops one real `glassbox serve` process for a test file.
//
// Every start gets a fresh temporary data directory, a free port and freshly
// generated project keys (headless init through LANGFUSE_INIT_* variables).
// The server's stdout/stderr are kept in memory so failures can show them.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const READY_TIMEOUT_MS = Number(process.env.GLASSBOX_READY_TIMEOUT_MS ?? 60_000);
const MAX_LOG_LINES = 2_000;

export function glassboxBinary() {
  const fromEnv = process.env.GLASSBOX_BIN;
  if (fromEnv) return path.resolve(process.cwd(), fromEnv);
  return path.resolve(PACKAGE_DIR, '../../target/debug/glassbox');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Child processes still running when this test process exits are killed here.
const running = new Set();
process.on('exit', () => {
  for (const child of running) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const child of running) child.kill('SIGKILL');
    process.exit(130);
  });
}

class GlassboxServer {
  constructor({ bin, port, grpcPort, dataDir, credentials, project }) {
    this.bin = bin;
    this.port = port;
    this.grpcPort = grpcPort;
    this.dataDir = dataDir;
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.publicKey = credentials.publicKey;
    this.secretKey = credentials.secretKey;
    this.project = project;
    this.log = [];
    this.child = null;
    this.exit = null; // {code, signal} once the process has exited
    this.stopping = false;
  }

  spawn() {
    const env = {
      ...process.env,
      LANGFUSE_INIT_ORG_ID: this.project.orgId,
      LANGFUSE_INIT_ORG_NAME: this.project.orgName,
      LANGFUSE_INIT_PROJECT_ID: this.project.projectId,
      LANGFUSE_INIT_PROJECT_NAME: this.project.projectName,
      LANGFUSE_INIT_PROJECT_PUBLIC_KEY: this.publicKey,
      LANGFUSE_INIT_PROJECT_SECRET_KEY: this.secretKey,
      // The OTLP/gRPC receiver listens on a fixed port (4317) by default: give every test
      // server its own free one so that parallel runs on the machine do not collide.
      GLASSBOX_OTLP_GRPC_PORT: String(this.grpcPort),
    };
    const args = ['serve', '--host', '127.0.0.1', '--port', String(this.port), '--data-dir', this.dataDir];
    this.command = `${this.bin} ${args.join(' ')}`;
    const child = spawn(this.bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    running.add(child);
    const verbose = process.env.GLASSBOX_TEST_VERBOSE === '1';
    for (const [stream, tag] of [
      [child.stdout, 'stdout'],
      [child.stderr, 'stderr'],
    ]) {
      let pending = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        pending += chunk;
        const lines = pending.split('\n');
        pending = lines.pop();
        for (const line of lines) this.#record(tag, line, verbose);
      });
      stream.on('end', () => {
        if (pending) this.#record(tag, pending, verbose);
        pending = '';
      });
    }
    this.exited = new Promise((resolve) => {
      child.on('error', (err) => {
        this.#record('spawn', String(err), verbose);
        this.exit = { code: null, signal: null, error: String(err) };
        running.delete(child);
        resolve(this.exit);
      });
      child.on('exit', (code, signal) => {
        this.exit = { code, signal };
        running.delete(child);
        resolve(this.exit);
      });
    });
  }

  #record(tag, line, verbose) {
    this.log.push(`[${tag}] ${line}`);
    if (this.log.length > MAX_LOG_LINES) this.log.splice(0, this.log.length - MAX_LOG_LINES);
    if (verbose) process.stderr.write(`[glassbox ${tag}] ${line}\n`);
  }

  async waitReady() {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let last = 'no response yet';
    while (Date.now() < deadline) {
      if (this.exit) {
        throw new Error(`glassbox exited during start-up (${describeExit(this.exit)})\n${this.describe()}`);
      }
      try {
        const res = await fetch(`${this.baseUrl}/api/public/health`, { signal: AbortSignal.timeout(2_000) });
        const text = await res.text();
        if (res.status === 200) return;
        last = `HTTP ${res.status} ${text.slice(0, 500)}`;
      } catch (err) {
        last = String(err?.cause?.code ?? err?.message ?? err);
      }
      await sleep(100);
    }
    throw new Error(`glassbox not ready after ${READY_TIMEOUT_MS} ms (last health check: ${last})\n${this.describe()}`);
  }

  /** True while the server process is alive (used to flag crashes in failure reports). */
  get alive() {
    return this.child !== null && this.exit === null;
  }

  logTail(lines = 200) {
    return this.log.slice(-lines).join('\n');
  }

  describe(lines = 200) {
    const state = this.exit ? `EXITED (${describeExit(this.exit)})` : 'running';
    return [
      `--- glassbox server: ${state}; ${this.command}`,
      `--- data dir: ${this.dataDir}`,
      `--- last ${lines} lines of server output:`,
      this.logTail(lines) || '(no output)',
      '--- end of server output',
    ].join('\n');
  }

  async stop({ keepData = false } = {}) {
    this.stopping = true;
    if (this.child && !this.exit) {
      this.child.kill('SIGTERM');
      let timer;
      const timeout = new Promise((resolve) => {
        timer = setTimeout(() => resolve(null), 5_000);
      });
      const exited = await Promise.race([this.exited, timeout]);
      clearTimeout(timer);
      if (!exited) {
        this.child.kill('SIGKILL');
        await this.exited;
      }
    }
    if (!keepData) fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

function describeExit(exit) {
  if (exit.error) return `spawn error: ${exit.error}`;
  return exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
}

/** Starts glassbox and resolves once `/api/public/health` answers 200. */
export async function startGlassbox() {
  const bin = glassboxBinary();
  if (!fs.existsSync(bin)) {
    throw new Error(
      `glassbox binary not found at ${bin}. Build it (cargo build -p glassbox-server) or set GLASSBOX_BIN.`,
    );
  }
  let lastError;
  // A free port can be taken between probing and binding; retry start-up a couple of times.
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const suffix = randomBytes(8).toString('hex');
    const server = new GlassboxServer({
      bin,
      port: await freePort(),
      grpcPort: await freePort(),
      dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'glassbox-sdk-js-')),
      credentials: { publicKey: `pk-lf-sdkjs-${suffix}`, secretKey: `sk-lf-sdkjs-${suffix}` },
      project: {
        orgId: `org-sdkjs-${suffix}`,
        orgName: 'SDK JS test org',
        projectId: `proj-sdkjs-${suffix}`,
        projectName: 'SDK JS test project',
      },
    });
    server.spawn();
    try {
      await server.waitReady();
      return server;
    } catch (err) {
      lastError = err;
      const addrInUse = /in use|AddrInUse|EADDRINUSE/i.test(server.logTail());
      await server.stop({ keepData: !addrInUse });
      if (!addrInUse) break;
    }
  }
  throw lastError;
}
