#!/usr/bin/env node
// A second host for any governance:connector component (issue 12): Node.js, through jco's
// transpilation of the unmodified component and preview2-shim's WASI. It drives the contract
// (`governance:connector`) as the Rust harness does, and its `sync` writes the harness's JSON
// Lines byte for byte (host-harness/src/sync.rs and jsonl.rs).
//
//   node hosts/node/host.mjs [--component DIR] [--set NAME=VALUE]... COMMAND [ARGS]
//
// COMMAND: metadata | validate | sync | provision-grant ENTITLEMENT_ID PRINCIPAL_TYPE:ID
// Settings: <CONNECTOR>_<SETTING> (or BATON_<CONNECTOR>_<SETTING>) in the environment for every
// setting `metadata` lists, CONNECTOR being metadata's name (for Airflow: AIRFLOW_BASE_URL,
// AIRFLOW_USERNAME, AIRFLOW_PASSWORD), the rule of sync-engine/src/env.rs; `--set` wins.
// Keep the password in the environment, off the command line.
// DIR is `make node-host`'s transpiled component (default: target/node-host/airflow-connector).
//
// Exit status: 0 done; 2 the connector returned a typed error (printed to stderr as
// `connector error in CALL: {"tag":…,"val":…}`); 1 anything else (a usage or host error).

import { readFile } from "node:fs/promises";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as shim from "@bytecodealliance/preview2-shim";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const DEFAULT_DIR = path.join(REPO, "target/node-host/airflow-connector");
const USAGE = `usage: node hosts/node/host.mjs [--component DIR] [--set NAME=VALUE]... COMMAND
commands: metadata | validate | sync | provision-grant ENTITLEMENT_ID PRINCIPAL_TYPE:ID
settings: <CONNECTOR>_<SETTING> environment variables named from the component's metadata
          (e.g. AIRFLOW_BASE_URL, AIRFLOW_USERNAME, AIRFLOW_PASSWORD), or --set NAME=VALUE`;

class UsageError extends Error {}
class HostError extends Error {}

// --- Loading: the transpiled component, with preview2-shim's WASI as its imports -------------

/** `{ "wasi:cli/stdout": shim.cli.stdout, "wasi:cli/stdout@0.2.12": …, … }` for every import. */
function wasiImports(version, counter) {
  const imports = {};
  for (const [pkg, ifaces] of Object.entries(shim)) {
    for (const [name, impl] of Object.entries(ifaces)) {
      if (name.startsWith("_")) continue; // the shim's own setters, not WASI interfaces
      const iface = `wasi:${pkg}/${name.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())}`;
      // The transpiled JS looks interfaces up without the version; the types name it.
      imports[iface] = imports[`${iface}@${version}`] = impl;
    }
  }
  // Count the connector's HTTP requests, as the harness reports them.
  const handler = shim.http.outgoingHandler;
  const counted = {
    handle: (...args) => {
      counter.requests += 1;
      return handler.handle(...args);
    },
  };
  imports["wasi:http/outgoing-handler"] = imports[`wasi:http/outgoing-handler@${version}`] = counted;
  return imports;
}

async function load(dir, counter) {
  // jco names the module after the component file: the directory holds one transpiled component.
  const names = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".js")) : [];
  if (names.length !== 1) {
    throw new HostError(`${dir} holds no transpiled component: run \`make node-host\` to transpile it`);
  }
  const js = path.join(dir, names[0]);
  // Contract calls read no environment or arguments: the guest sees neither (no secret in it).
  shim.cli._setEnv({});
  shim.cli._setArgs([names[0].replace(/\.js$/, ".wasm")]);
  const { instantiate } = await import(pathToFileURL(js).href);
  const root = await instantiate(
    async (file) => WebAssembly.compile(await readFile(path.join(dir, file))),
    wasiImports("0.2.12", counter),
  );
  return root.connector;
}

// --- Typed errors: a `result` error arrives as a thrown ComponentError with payload {tag, val} --

class ConnectorError extends Error {
  constructor(call, payload) {
    super(`connector error in ${call}: ${json(payload)}`);
    this.call = call;
    this.payload = payload;
  }
}

/** Calls `connector[name](...args)`, turning a contract error into a ConnectorError. */
function call(connector, name, ...args) {
  try {
    return connector[name](...args);
  } catch (e) {
    if (e?.constructor?.name === "ComponentError" && typeof e.payload?.tag === "string") {
      throw new ConnectorError(name, e.payload);
    }
    throw e;
  }
}

// --- JSON: exactly what serde_json writes (no spaces; u64 as digits; key order as given) ------

function json(v) {
  if (v === null || v === undefined) return "null";
  if (typeof v === "bigint") return v.toString();
  if (Array.isArray(v)) return `[${v.map(json).join(",")}]`;
  if (typeof v === "object") return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${json(x)}`).join(",")}}`;
  return JSON.stringify(v); // strings, booleans: serde_json and JSON.stringify escape alike
}

/** An object from key/value pairs, keeping repeats (serde_json's map of attributes does). */
const pairs = (kv) => `{${kv.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(",")}}`;

// host-harness/src/jsonl.rs, field for field.
const line = {
  resourceType: (t) =>
    json({ type: "resource_type", id: t.id, display_name: t.displayName, description: t.description, traits: t.traits }) + "\n",
  resource(r) {
    let s = json({ type: "resource", resource_type: r.resourceType, id: r.id, display_name: r.displayName }).slice(0, -1);
    if (r.user !== undefined) {
      const u = r.user;
      s += `,"user":${json({
        login: u.login,
        email: u.email,
        status: u.status,
        last_login: u.lastLogin,
        login_count: u.loginCount,
        fail_login_count: u.failLoginCount,
        created_at: u.createdAt,
      })}`;
    }
    if (r.attributes.length > 0) s += `,"attributes":${pairs(r.attributes)}`;
    return s + "}\n";
  },
  entitlement: (e) =>
    json({
      type: "entitlement",
      id: e.id,
      resource_type: e.resource.resourceType,
      resource_id: e.resource.id,
      slug: e.slug,
      display_name: e.displayName,
      description: e.description,
      purpose: e.purpose,
      grantable_to: e.grantableTo,
    }) + "\n",
  grant: (g) =>
    json({
      type: "grant",
      id: g.id,
      entitlement: g.entitlementId,
      principal_type: g.principal.resourceType,
      principal_id: g.principal.id,
    }) + "\n",
};

// --- The sync: host-harness/src/sync.rs's loop -----------------------------------------------

/** Refuses a page token seen before in the same listing (A→A or A→B→A would page forever). */
function tokenGuard(what) {
  const seen = new Set();
  return (token) => {
    if (token === undefined) return undefined;
    if (seen.has(token)) {
      throw new Error(`connector returned page token \`${token}\` twice while listing ${what}; stopping to avoid an endless loop`);
    }
    seen.add(token);
    return token;
  };
}

/** Resource types, then every synced type's resources page by page; entitlements and grants are
 * held back (in memory here; the harness spools them to files) and written after, in that order. */
function sync(connector, write) {
  const stats = { resources: 0, entitlements: 0, grants: 0, byType: new Map() };
  const entitlements = [];
  const grants = [];

  const types = call(connector, "resourceTypes");
  // The type lines wait for the first page, as in sync-engine: a connector that fails its first
  // call (a token without a permission) leaves no output at all.
  let headerWritten = false;
  const writeHeader = () => {
    if (headerWritten) return;
    headerWritten = true;
    write(types.map(line.resourceType).join(""));
  };
  const inline = new Set(types.filter((t) => t.capabilities.inlineResources).map((t) => t.id));
  const capabilities = (id) => types.find((t) => t.id === id)?.capabilities;
  const seenInline = new Set(); // "type\0id"
  const seenInlineEntitlements = new Set();

  for (const t of types.filter((t) => t.capabilities.sync && !t.capabilities.inlineResources)) {
    const next = tokenGuard(`resources of type \`${t.id}\``);
    let token;
    do {
      const page = call(connector, "listResources", t.id, token);
      writeHeader();
      let out = "";
      for (const r of page.resources) {
        if (inline.has(r.resourceType)) {
          const key = `${r.resourceType}\0${r.id}`;
          if (seenInline.has(key)) continue;
          seenInline.add(key);
        }
        out += line.resource(r);
        stats.resources += 1;
        stats.byType.set(r.resourceType, (stats.byType.get(r.resourceType) ?? 0) + 1);
      }
      for (const e of page.entitlements) {
        if (inline.has(e.resource.resourceType)) {
          if (seenInlineEntitlements.has(e.id)) continue;
          seenInlineEntitlements.add(e.id);
        }
        entitlements.push(line.entitlement(e));
      }
      for (const g of page.grants) grants.push(line.grant(g));
      for (const r of page.resources) {
        // Inline resources follow their own type's capabilities.
        const caps = capabilities(r.resourceType) ?? t.capabilities;
        if (caps.inlineResources || (caps.inlineEntitlements && caps.inlineGrants)) continue;
        const ref = { resourceType: r.resourceType, id: r.id };
        const what = `${r.resourceType}:${r.id}`;
        if (!caps.inlineEntitlements) {
          listAll(connector, "listEntitlements", ref, tokenGuard(`entitlements of ${what}`), (p) =>
            entitlements.push(...p.entitlements.map(line.entitlement)));
        }
        if (!caps.inlineGrants) {
          listAll(connector, "listGrants", ref, tokenGuard(`grants of ${what}`), (p) =>
            grants.push(...p.grants.map(line.grant)));
        }
      }
      // Resources are on their way to the reader before the next page is asked for.
      write(out);
      token = next(page.nextPageToken);
    } while (token !== undefined);
  }

  // A connector with nothing to list still describes its types.
  writeHeader();
  write(entitlements.join(""));
  write(grants.join(""));
  stats.entitlements = entitlements.length;
  stats.grants = grants.length;
  return { types: types.length, ...stats };
}

function listAll(connector, fn, ref, next, take) {
  let token;
  do {
    const page = call(connector, fn, ref, token);
    take(page);
    token = next(page.nextPageToken);
  } while (token !== undefined);
}

// --- Settings and commands ---------------------------------------------------------------------

/** camelCase keys to snake_case, `undefined` to null: the harness's JSON for contract records. */
function snake(v) {
  if (v === undefined) return null;
  if (Array.isArray(v)) return v.map(snake);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase()), snake(x)]));
  }
  return v;
}

/** `1`/`yes`/`on` as "true", `0`/`no`/`off` as "false"; anything else as written (env.rs). */
function normaliseBool(value) {
  const v = value.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(v)) return "true";
  if (["0", "false", "no", "off"].includes(v)) return "false";
  return value;
}

/** The settings for `configure`: every setting `metadata` lists, from the environment or `--set`,
 * by sync-engine/src/env.rs's rule: `NAME_FIELD`, then `BATON_NAME_FIELD`, then (provisioning
 * only) `BATON_PROVISIONING`; an empty variable is unset; booleans normalised. */
function settings(info, sets) {
  const config = [];
  const envName = (s) => s.toUpperCase().replace(/[^A-Z0-9]/g, "_");
  const prefix = envName(info.name);
  for (const field of info.configFields) {
    const upper = envName(field.name);
    const names = [`${prefix}_${upper}`, `BATON_${prefix}_${upper}`];
    if (field.name === "provisioning") names.push("BATON_PROVISIONING");
    const fromEnv = names.map((n) => process.env[n]).find((v) => v !== undefined && v !== "");
    const boolean = field.name === "provisioning" || ["true", "false"].includes(field.defaultValue);
    const value = sets.get(field.name) ?? (fromEnv !== undefined && boolean ? normaliseBool(fromEnv) : fromEnv);
    if (value !== undefined) config.push([field.name, value]);
    // The contract's host-provided authentication (wit/types.wit, `configure`): this host
    // attaches no credentials, so the connector would send every request without any.
    if (field.name === "host_auth" && value !== undefined) {
      const source = sets.has(field.name)
        ? "--set host_auth"
        : `environment variable ${names.find((n) => process.env[n] !== undefined && process.env[n] !== "")}`;
      throw new HostError(
        `\`host_auth\` is \`${value}\` (${source}), which asks the host to authenticate every request, ` +
          `and this Node.js host does not: unset it and give the connector its own credentials, or run it ` +
          `in a host that provides \`${value}\` (host-harness provides \`negotiate\`, Kerberos)`,
      );
    }
  }
  for (const name of sets.keys()) {
    if (!info.configFields.some((f) => f.name === name)) config.push([name, sets.get(name)]); // configure names it
  }
  return config;
}

function parseArgs(argv) {
  const opts = { dir: process.env.NODE_HOST_COMPONENT_DIR || DEFAULT_DIR, sets: new Map(), rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--component") opts.dir = argv[++i];
    else if (a === "--set") {
      const kv = argv[++i] ?? "";
      const eq = kv.indexOf("=");
      if (eq < 1) throw new UsageError(`--set wants NAME=VALUE, got \`${kv}\``);
      opts.sets.set(kv.slice(0, eq), kv.slice(eq + 1));
    } else if (a === "-h" || a === "--help") opts.rest = ["help"];
    else opts.rest.push(a);
  }
  if (opts.dir === undefined) throw new UsageError("--component wants a directory");
  return opts;
}

async function main(argv) {
  const opts = parseArgs(argv);
  const [command, ...args] = opts.rest;
  const wants = { metadata: 0, validate: 0, sync: 0, "provision-grant": 2, help: 0 }[command];
  if (wants === undefined || args.length !== wants) {
    throw new UsageError(command === undefined ? "no command" : `unknown command or arguments: \`${opts.rest.join(" ")}\``);
  }
  if (command === "help") {
    process.stdout.write(USAGE + "\n");
    return;
  }

  const counter = { requests: 0 };
  const connector = await load(opts.dir, counter);
  const info = connector.metadata();
  if (command === "metadata") {
    process.stdout.write(JSON.stringify(snake(info), null, 2) + "\n");
    return;
  }
  call(connector, "configure", settings(info, opts.sets));

  if (command === "validate") {
    process.stdout.write(JSON.stringify(snake(call(connector, "validate"))) + "\n");
  } else if (command === "sync") {
    const s = sync(connector, (text) => process.stdout.write(text));
    const byType = [...s.byType].sort(([a], [b]) => (a < b ? -1 : 1)).map(([t, n]) => `${t} ${n}`).join(", ");
    const session = connector.sessionInfo().map(([k, v]) => `${k}: ${v}`).join("; ");
    process.stderr.write(
      `sync complete: ${s.types} resource types, ${s.resources} resources (${byType}), ` +
        `${s.entitlements} entitlements, ${s.grants} grants; ${counter.requests} HTTP requests; ${session}\n`,
    );
  } else if (command === "provision-grant") {
    const [entitlementId, principal] = args;
    const colon = principal.indexOf(":");
    if (colon < 1) throw new UsageError(`the principal is TYPE:ID, got \`${principal}\``);
    const ref = { resourceType: principal.slice(0, colon), id: principal.slice(colon + 1) };
    const outcome = call(connector, "provision", { tag: "grant", val: [entitlementId, ref] });
    process.stdout.write(JSON.stringify(snake({ status: outcome.status, message: outcome.message, grant: outcome.grant })) + "\n");
  }
}

try {
  await main(process.argv.slice(2));
} catch (e) {
  if (e instanceof ConnectorError) {
    process.stderr.write(e.message + "\n");
    process.exitCode = 2;
  } else if (e instanceof HostError) {
    process.stderr.write(`error: ${e.message}\n`);
    process.exitCode = 1;
  } else if (e instanceof UsageError) {
    process.stderr.write(`error: ${e.message}\n${USAGE}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`host error: ${e?.stack ?? e}\n`);
    process.exitCode = 1;
  }
}
