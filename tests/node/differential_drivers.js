'use strict';
// Node drivers with their own defaults through sluice, compared with the same steps on a direct
// connection to the primary. Run by tests/tests/proxy/differential/drivers.rs
// (differential_node_matches_direct_connections) after `npm ci` in tests/node.
//
// Environment: SLUICE_PORTS (comma-separated: each is tested), DIRECT_PORT, REPLICA_PORTS, SCHEMA,
// SEED, SESSIONS, STEPS, CONCURRENT, VARIANTS (mysql2,mysql2-execute,mariadb,mariadb-execute),
// CATALOGUE (tests/drivers/catalogue.tsv). User app/app on both sides. Exits 1 with every divergence.
//
// Variants: "mysql2" / "mariadb" run every step with query() (text protocol); "-execute" runs the
// statements the server can prepare (SELECT, INSERT, UPDATE, DELETE, SHOW, DO) with execute() (binary
// protocol, the driver's per-connection statement cache). Per port and variant: the reported
// lost-writes sequence, the catalogue's scripted sessions, SESSIONS seeded sessions one after another,
// CONCURRENT at once. Answers compared: columns and rows, affected rows, insert id, warning count,
// autocommit and in-transaction bits of the last status the driver saw, or errno, SQLSTATE, message.
// After each session both twins' tables are read on the primary directly: the committed rows must match.

const fs = require('fs');
const path = require('path');
const mysql2 = require('mysql2/promise');
const mariadb = require('mariadb');

const SCHEMA = process.env.SCHEMA || '';
const DIRECT = Number(process.env.DIRECT_PORT || 0);
const PROBES = {};
const CHOICES = new Map();
const WEIGHTS = new Map();
const COVERAGE = {};
const FAILURES = [];

function loadCatalogue(file) {
  let last = null;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const [name, weight, stmt] = [line.split('\t', 1)[0], line.split('\t')[1], line.split('\t').slice(2).join('\t')];
    if (name.startsWith('@')) {
      PROBES[name] = stmt;
      continue;
    }
    if (name !== last) WEIGHTS.set(name, Number(weight));
    last = name;
    if (!CHOICES.has(name)) CHOICES.set(name, []);
    CHOICES.get(name).push(stmt);
  }
}

// mulberry32, as in tests/java/DifferentialDrivers.java.
function rng(seed) {
  let a = seed | 0;
  const next = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { below: (n) => Math.floor(next() * n) };
}

const PREPARABLE = /^\s*(SELECT|INSERT|UPDATE|DELETE|SHOW|DO)\b/i;
const text = (v) => JSON.stringify(v, (k, x) => (typeof x === 'bigint' ? `${x}n` : x));

async function connect(variant, port, extra = {}) {
  const opts = { host: '127.0.0.1', port, user: 'app', password: 'app', database: SCHEMA, ...extra };
  if (variant.startsWith('mysql2')) {
    const c = await mysql2.createConnection(opts);
    c.connection.on('error', () => {}); // a dropped connection is reported by the next call
    return c;
  }
  const c = await mariadb.createConnection(opts);
  c.on('error', () => {});
  return c;
}

async function directQuery(sql, extra = {}) {
  const c = await connect('mysql2', DIRECT, extra);
  try {
    const [rows] = await c.query(sql);
    return rows;
  } finally {
    await c.end();
  }
}

class Twin {
  constructor(variant, port, tag) {
    Object.assign(this, { variant, port, tag, lock: `lk_${process.pid}_${tag}`, conn: null });
  }

  resolve(s) {
    return s
      .replaceAll('{tmp}', `tmp_${this.tag}`)
      .replaceAll('{lk}', this.lock)
      .replaceAll('{other}', `${SCHEMA}_o`)
      .replaceAll('{db}', SCHEMA)
      .replaceAll('{t}', `t_${this.tag}`)
      .replaceAll('{d}', `d_${this.tag}`);
  }

  normalize(s) {
    // mariadb's messages name the server's thread id: sluice's differs by design.
    return s.replaceAll(this.lock, '{lk}').replaceAll(this.tag, 'TAG').replace(/\(conn:\d+/g, '(conn:N');
  }

  status() {
    const st = this.variant.startsWith('mysql2') ? this.conn.connection.serverStatus : this.conn.info.status;
    return `autocommit=${Boolean(st & 2)} in_trans=${Boolean(st & 1)}`;
  }

  async sql(sql) {
    const exec = this.variant.endsWith('-execute') && PREPARABLE.test(sql);
    if (this.variant.startsWith('mysql2')) {
      const [rows, fields] = exec ? await this.conn.execute(sql) : await this.conn.query(sql);
      if (!fields) {
        const { affectedRows, insertId, warningStatus, info } = rows;
        return `affected=${affectedRows} insert_id=${insertId} warnings=${warningStatus} info=${text(info)}`;
      }
      return `cols=${text(fields.map((f) => f.name))} rows=${text(rows)}`;
    }
    const rows = exec ? await this.conn.execute(sql) : await this.conn.query(sql);
    if (!Array.isArray(rows)) {
      const { affectedRows, insertId, warningStatus } = rows;
      return `affected=${affectedRows} insert_id=${insertId} warnings=${warningStatus}`;
    }
    return `cols=${text((rows.meta || []).map((m) => m.name()))} rows=${text(rows)}`;
  }

  async api(what) {
    switch (what) {
      case 'autocommit_on':
      case 'autocommit_off': {
        // Neither driver has an autocommit setter: applications send the statement.
        await this.conn.query(`SET autocommit = ${what === 'autocommit_on' ? 1 : 0}`);
        break;
      }
      case 'commit':
        await this.conn.commit();
        break;
      case 'rollback':
        await this.conn.rollback();
        break;
      case 'ping':
        await this.conn.ping();
        break;
      case 'reconnect': {
        // The client goes away without COM_QUIT.
        if (this.variant.startsWith('mysql2')) this.conn.connection.destroy();
        else this.conn.destroy();
        this.conn = await connect(this.variant, this.port);
        // The server frees the old connection's named lock when it notices the socket close
        // (through sluice: when sluice resets the backend connection): wait for it.
        for (let i = 0; i < 250; i++) {
          const r = await this.conn.query(this.resolve("SELECT IS_USED_LOCK('{lk}') IS NULL AS free"));
          const row = this.variant.startsWith('mysql2') ? r[0][0] : r[0];
          if (Number(row.free) === 1) break;
          await new Promise((res) => setTimeout(res, 20));
        }
        return 'reconnected';
      }
      default:
        throw new Error(`unknown API step ${what}`);
    }
    return `${what} ok; ${this.status()}`;
  }

  async run(step) {
    let out;
    try {
      if (!this.conn) this.conn = await connect(this.variant, this.port);
      if (step.startsWith('API ')) return this.normalize(await this.api(step.slice(4)));
      out = `${await this.sql(this.resolve(PROBES[step] || step))}; ${this.status()}`;
    } catch (e) {
      out = `ERROR ${e.errno} ${e.sqlState} ${e.sqlMessage || e.text || e.message}`;
      if (e.fatal || !e.errno) {
        this.close();
      }
    }
    return this.normalize(out);
  }

  close() {
    const c = this.conn;
    this.conn = null;
    if (c) c.end().catch(() => {});
  }
}

async function reported(port, variant) {
  const table = `rep_${variant.replace('-', '_')}_${port}`;
  await directQuery(`CREATE TABLE ${table} (id INT PRIMARY KEY AUTO_INCREMENT, v INT)`);
  await waitReplicas();
  let c = await connect(variant, port);
  await c.query('SET autocommit = 0');
  await c.query('SELECT 1');
  await c.commit();
  await c.end();
  const sessions = 5;
  const each = 20;
  for (let s = 0; s < sessions; s++) {
    c = await connect(variant, port);
    for (let i = 0; i < each; i++) {
      const sql = `INSERT INTO ${table} (v) VALUES (?)`;
      if (variant.endsWith('-execute')) await c.execute(sql, [s * 100 + i]);
      else await c.query(sql, [s * 100 + i]);
    }
    await c.end();
  }
  const [{ n }] = await directQuery(`SELECT COUNT(*) AS n FROM ${table}`);
  if (Number(n) !== sessions * each) {
    FAILURES.push(
      `[${variant} port ${port}] reported sequence: connect; SET autocommit = 0; SELECT 1; commit(); end();` +
        ` then ${sessions} x (connect with the driver's defaults; ${each} x INSERT; end()): primary has ${n} rows,` +
        ` expected ${sessions * each} (acknowledged writes lost)`,
    );
  }
}

const PHASE = { seq: 'e', conc: 'o', script: 'c' };
const tag = (variant, pi, side, phase, sid) =>
  `n${variant.startsWith('mysql2') ? 'm' : 'a'}${variant.endsWith('-execute') ? 'x' : 'q'}${pi}${PHASE[phase]}${side}${sid}y`;

function tables(variant, pi, phase, n) {
  const sql = [];
  for (let sid = 0; sid < n; sid++) {
    for (const side of 'sd') {
      const t = `t_${tag(variant, pi, side, phase, sid)}`;
      sql.push(`CREATE TABLE ${t} (id INT PRIMARY KEY AUTO_INCREMENT, v INT, s VARCHAR(8))`);
      sql.push(`INSERT INTO ${t} (v, s) VALUES (1, 'a'), (2, 'b'), (3, 'c')`);
    }
  }
  return sql;
}

// Waits until every replica has the schema's tables (sluice may read there before any write).
async function waitReplicas() {
  const q = `SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${SCHEMA}'`;
  const [{ n: want }] = await directQuery(q);
  for (const p of (process.env.REPLICA_PORTS || '').split(',').filter(Boolean)) {
    const c = await mysql2.createConnection({ host: '127.0.0.1', port: Number(p), user: 'app', password: 'app' });
    for (let i = 0; i < 500; i++) {
      const [[{ n }]] = await c.query(q);
      if (Number(n) === Number(want)) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    await c.end();
  }
}

async function session(port, pi, variant, phase, sid, script, steps, seed) {
  const label = `[${variant} port ${port}] ${phase} session ${sid}`;
  const s = new Twin(variant, port, tag(variant, pi, 's', phase, sid));
  const d = new Twin(variant, DIRECT, tag(variant, pi, 'd', phase, sid));
  const r = rng(seed * 31 + sid * 1000003 + pi * 7919 + phase.length * 131 + variant.length);
  const names = [...WEIGHTS].filter(([, w]) => w > 0).map(([n]) => n);
  const total = names.reduce((a, n) => a + WEIGHTS.get(n), 0);
  let plan = ['@READ_STATE'];
  const history = [];
  const n = script ? script.length + 1 : steps;
  for (let i = 0; i < n; i++) {
    let entry;
    let step;
    if (plan.length) {
      entry = 'read_state';
      step = plan.pop();
    } else if (script) {
      entry = 'script';
      step = script[i - 1];
    } else {
      let x = r.below(total);
      for (entry of names) {
        x -= WEIGHTS.get(entry);
        if (x < 0) break;
      }
      const ch = CHOICES.get(entry);
      step = ch[r.below(ch.length)].replaceAll('{k}', String(1 + r.below(9)));
      if (step === 'API reconnect') plan = ['@READ_STATE2', '@READ_STATE'];
    }
    COVERAGE[entry] = (COVERAGE[entry] || 0) + 1;
    const a = await s.run(step);
    const b = await d.run(step);
    history.push(`  ${String(i).padStart(3)} [${entry}] ${step}\n        -> ${b}`);
    if (a !== b) {
      FAILURES.push(
        `${label}: DIVERGENCE seed=${seed} step=${i} entry=${entry}\n  statement: ${step}\n  sluice: ${a}\n` +
          `  direct: ${b}\n  sequence so far (direct answers):\n${history.join('\n')}`,
      );
      break;
    }
  }
  s.close();
  d.close();
  // Committed rows of both twins, read on the primary directly: an acknowledged write that sluice lost
  // (or one it kept that the direct twin rolled back) shows here.
  const q = "SELECT COUNT(*) AS n, COALESCE(SUM(v), 0) AS sum, GROUP_CONCAT(CONCAT(id, ':', COALESCE(v, 'N'), ':', s) ORDER BY id) AS all_rows FROM t_";
  const rs = text(await directQuery(q + s.tag));
  const rd = text(await directQuery(q + d.tag));
  if (rs !== rd) {
    FAILURES.push(
      `${label}: rows on the primary after the session differ\n  sluice twin: ${rs}\n  direct twin: ${rd}\n` +
        `  sequence (direct answers):\n${history.join('\n')}`,
    );
  }
}

async function main() {
  loadCatalogue(process.env.CATALOGUE || path.join(__dirname, '..', 'drivers', 'catalogue.tsv'));
  const seed = Number(process.env.SEED || 24301);
  const sessions = Number(process.env.SESSIONS || 8);
  const steps = Number(process.env.STEPS || 40);
  const concurrent = Number(process.env.CONCURRENT || 4);
  const variants = (process.env.VARIANTS || 'mysql2,mysql2-execute,mariadb,mariadb-execute').split(',');
  const ports = (process.env.SLUICE_PORTS || '0').split(',').map(Number);
  const scripts = [...CHOICES.keys()].filter((k) => k.startsWith('script_'));
  await directQuery(`CREATE DATABASE IF NOT EXISTS \`${SCHEMA}_o\``);
  const setup = [];
  for (const variant of variants) {
    for (let pi = 0; pi < ports.length; pi++) {
      setup.push(...tables(variant, pi, 'seq', sessions), ...tables(variant, pi, 'conc', concurrent));
      setup.push(...tables(variant, pi, 'script', scripts.length));
    }
  }
  await directQuery(setup.join(';\n'), { multipleStatements: true });
  await waitReplicas();
  for (const variant of variants) {
    for (let pi = 0; pi < ports.length; pi++) {
      const port = ports[pi];
      try {
        await reported(port, variant);
      } catch (e) {
        FAILURES.push(`[${variant} port ${port}] reported sequence raised: ${e.stack}`);
      }
      for (let i = 0; i < scripts.length; i++) {
        await session(port, pi, variant, 'script', i, CHOICES.get(scripts[i]), 0, seed);
      }
      for (let sid = 0; sid < sessions; sid++) await session(port, pi, variant, 'seq', sid, null, steps, seed);
      const running = [];
      for (let sid = 0; sid < concurrent; sid++) {
        running.push(session(port, pi, variant, 'conc', sid, null, steps, seed));
      }
      await Promise.all(running);
    }
  }
  console.error(`node variants ${variants}, ports ${ports}, seed ${seed}: coverage ${text(COVERAGE)}`);
  if (FAILURES.length) {
    console.error(`${FAILURES.length} failure(s):\n\n${FAILURES.join('\n\n')}`);
    process.exit(1);
  }
  console.error('OK');
}

main().catch((e) => {
  console.error(`node differential raised: ${e.stack}`);
  process.exit(2);
});
