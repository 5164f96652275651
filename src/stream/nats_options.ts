/**
 * From --nats-url and the --nats-* TLS and credential settings to what nats.js takes (pure; the files are read by
 * src/stream/connect.ts). nats.js ignores a URL's userinfo (`nats://user:password@host`, `nats://token@host`), so
 * it is taken out here, percent-decoded, and passed as options; the servers nats.js sees carry none. A `tls://`
 * URL or any TLS file makes TLS required: nats.js then refuses a server that does not offer it.
 */
import { ConfigError } from "../errors.ts";
import { type Setting, SETTINGS } from "../settings.ts";
import type { Config } from "../config.ts";

/** The NATS security settings (Config's `nats` group). */
export type NatsSecurity = Config["nats"];

/** How nomnom authenticates, named as the user configured it (for error messages; never the secret). */
export type NatsAuth =
  | { kind: "none" }
  | { kind: "password"; user: string; pass: string; from: string }
  | { kind: "token"; token: string; from: string }
  | { kind: "nkey"; file: string; from: string }
  | { kind: "creds"; file: string; from: string };

/** What connect.ts needs: servers without userinfo, whether TLS is required and with which files, the auth. */
export type NatsPlan = {
  servers: string[];
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** Why TLS is required (the setting or the URL scheme), for the message when the server lacks it. */
  tlsBecause?: string;
  auth: NatsAuth;
};

/** `--flag (ENV)`: how a message names a setting. */
export function named(setting: Setting): string {
  return `--${setting.flag} (${setting.env})`;
}

const S = SETTINGS.nats;
const URL_SETTING = named(SETTINGS.natsUrl);

/** One entry of the server list: its scheme, its userinfo (raw) and the rest. */
function splitEntry(entry: string): { scheme: string; userinfo?: string; rest: string } {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(entry);
  const body = scheme ? entry.slice(scheme[0].length) : entry;
  // The userinfo ends at the LAST `@` (as redact() reads it): a password may itself hold an `@`.
  const at = body.lastIndexOf("@");
  return {
    scheme: scheme ? scheme[1].toLowerCase() : "",
    userinfo: at < 0 ? undefined : body.slice(0, at),
    rest: (scheme ? scheme[0] : "") + body.slice(at + 1),
  };
}

function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ConfigError(
      `Invalid ${URL_SETTING}: the ${what} in the URL is not valid percent-encoding (value not shown): ` +
        `encode special characters, e.g. @ as %40, : as %3A, % as %25, or use --${S.password.flag}.`,
    );
  }
}

/** The credentials of the URL's userinfo; every entry that has one must have the same. */
function urlAuth(userinfos: string[]): NatsAuth {
  if (userinfos.length === 0) return { kind: "none" };
  if (new Set(userinfos).size > 1) {
    throw new ConfigError(
      `Invalid ${URL_SETTING}: its servers carry different credentials (values not shown); a connection has ` +
        `one: give them once, on the first URL, or in --${S.user.flag}/--${S.password.flag}.`,
    );
  }
  const info = userinfos[0];
  const colon = info.indexOf(":");
  const from = `the userinfo of ${URL_SETTING}`;
  if (colon < 0) return { kind: "token", token: decode(info, "token"), from };
  return {
    kind: "password",
    user: decode(info.slice(0, colon), "user name"),
    pass: decode(info.slice(colon + 1), "password"),
    from,
  };
}

/** The credentials given by the --nats-* settings; more than one kind is an error. */
function settingsAuth(nats: NatsSecurity): NatsAuth {
  const given: NatsAuth[] = [];
  if (nats.user !== undefined || nats.password !== undefined) {
    if (nats.user === undefined || nats.password === undefined) {
      const missing = nats.user === undefined ? S.user : S.password;
      const other = nats.user === undefined ? S.password : S.user;
      throw new ConfigError(`${named(other)} needs ${named(missing)} too.`);
    }
    given.push({
      kind: "password",
      user: nats.user,
      pass: nats.password,
      from: `${named(S.user)} and ${named(S.password)}`,
    });
  }
  if (nats.token !== undefined) given.push({ kind: "token", token: nats.token, from: named(S.token) });
  if (nats.nkeyFile !== undefined) given.push({ kind: "nkey", file: nats.nkeyFile, from: named(S.nkeyFile) });
  if (nats.credsFile !== undefined) {
    given.push({ kind: "creds", file: nats.credsFile, from: named(S.credsFile) });
  }
  if (given.length > 1) {
    throw new ConfigError(
      `NATS credentials given twice: ${given.map((g) => (g as { from: string }).from).join(" and ")}; a ` +
        `connection uses one kind: keep the one your NATS user is configured with.`,
    );
  }
  return given[0] ?? { kind: "none" };
}

/** Turn the URL list and the security settings into a connection plan; throws a ConfigError naming the setting. */
export function createNatsPlan(url: string, nats: NatsSecurity): NatsPlan {
  const entries = url.split(",").map((s) => splitEntry(s.trim()));
  const fromUrl = urlAuth(entries.flatMap((e) => e.userinfo === undefined ? [] : [e.userinfo]));
  const fromSettings = settingsAuth(nats);
  if (fromUrl.kind !== "none" && fromSettings.kind !== "none") {
    throw new ConfigError(
      `NATS credentials given twice: in ${URL_SETTING} and in ${(fromSettings as { from: string }).from}: ` +
        `keep one (values not shown).`,
    );
  }
  if ((nats.certFile === undefined) !== (nats.keyFile === undefined)) {
    const [set, missing] = nats.certFile === undefined ? [S.keyFile, S.certFile] : [S.certFile, S.keyFile];
    throw new ConfigError(`${named(set)} needs ${named(missing)} too (a client certificate and its key).`);
  }
  const tlsFile = nats.caFile !== undefined ? S.caFile : nats.certFile !== undefined ? S.certFile : undefined;
  const tlsScheme = entries.some((e) => e.scheme === "tls");
  const tlsBecause = tlsFile ? named(tlsFile) : tlsScheme ? `the tls:// scheme of ${URL_SETTING}` : undefined;
  const files = Object.fromEntries(
    (["caFile", "certFile", "keyFile"] as const).flatMap((k) => nats[k] === undefined ? [] : [[k, nats[k]]]),
  );
  return {
    servers: entries.map((e) => e.rest),
    ...(tlsBecause ? { tls: files, tlsBecause } : {}),
    auth: fromUrl.kind !== "none" ? fromUrl : fromSettings,
  };
}

/** The first server of a plan as host and port (nats.js's default port 4222), for a diagnostic probe. */
export function firstHostPort(plan: NatsPlan): { host: string; port: number } {
  const entry = plan.servers[0].replace(/^[a-z][a-z0-9+.-]*:\/\//i, "");
  const [, host, port] = /^(\[[^\]]*\]|[^:/]*)(?::(\d+))?/.exec(entry)!;
  return { host: host.replace(/^\[|\]$/g, ""), port: port ? Number(port) : 4222 };
}

/** Why the embedded nats-server runs (the reason requireNoSecurity() gives for it). */
export const EMBEDDED_NATS = `${URL_SETTING} is not set, so nomnom starts its own NATS`;

/** The security settings that make no sense without --nats-url (the embedded server has no TLS and no users). */
export function requireNoSecurity(nats: NatsSecurity, why: string): void {
  const set = (Object.keys(S) as (keyof typeof S)[]).find((k) => nats[k] !== undefined);
  if (set) {
    throw new ConfigError(
      `${named(S[set])} is set, but ${why}: the embedded nats-server has no TLS and no users. ` +
        `Set ${URL_SETTING} to the NATS server these settings are for.`,
    );
  }
}
