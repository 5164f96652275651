/**
 * Rate limits (--rate-limit, --rate-limit-burst): a token bucket per API key (by its name) or, without keys, per
 * client address, counted in messages: a message POST is one, an NDJSON batch one per non-empty line (taken as a
 * whole before anything is published: a batch is never published in part and then refused), any other request
 * one. Probes, /metrics and the public pages are not counted (a throttled probe would take the replica out of
 * its load balancer). Each replica counts on its own: with N replicas a client may send N times the rate.
 *
 * Answers carry the RateLimit-Policy and RateLimit fields of draft-ietf-httpapi-ratelimit-headers-12 (the
 * structured-field form the draft has used since -08): `"messages";q=<burst>;w=<seconds to refill it>` and
 * `"messages";r=<messages left now>;t=<seconds until the bucket is full>`; a refusal is a 429 with Retry-After
 * (seconds until the request fits). A batch larger than the whole bucket can never fit: 413, naming the setting.
 */
import type { Context, MiddlewareHandler } from "hono";
import { BlockList, isIP } from "node:net";
import type { Metrics } from "../observability/metrics.ts";
import { accessFor, API_KEY_NAME } from "./access.ts";
import { HttpError, RateLimitedError } from "./http_error.ts";

/** The resolved rate-limit settings (src/settings.ts `rateLimit`). */
export type RateLimitSettings = { rate?: number; burst?: number; trustedProxies?: string[] };

/** The policy's name in the RateLimit fields. */
const POLICY = "messages";

/** Most buckets kept at once; past it the least recently used goes (a flood of spoofed addresses stays bounded). */
export const MAX_BUCKETS = 100_000;

/** What one take from a bucket found. */
export type Take = { ok: boolean; remaining: number; retryAfterSeconds: number; fullInSeconds: number };

/**
 * Token buckets by client id (pure apart from the clock, which is passed in). A bucket that has refilled is the
 * same as none, so full buckets are dropped (swept at most once per refill time): memory follows the clients
 * active in the last `burst / rate` seconds, and never exceeds `maxBuckets`.
 */
export function createTokenBuckets(
  options: { rate: number; burst: number; now?: () => number; maxBuckets?: number },
) {
  const { rate, burst } = options;
  const now = options.now ?? (() => performance.now());
  const maxBuckets = options.maxBuckets ?? MAX_BUCKETS;
  const perMs = rate / 1000;
  const refillMs = (burst / rate) * 1000;
  const buckets = new Map<string, { tokens: number; at: number }>();
  let swept = now();
  const level = (id: string, t: number) => {
    const bucket = buckets.get(id);
    return bucket ? Math.min(burst, bucket.tokens + (t - bucket.at) * perMs) : burst;
  };
  const sweep = (t: number) => {
    if (t - swept < Math.max(refillMs, 1000)) return;
    swept = t;
    for (const id of buckets.keys()) if (level(id, t) >= burst) buckets.delete(id);
  };
  return {
    /** Take `cost` tokens from `id`'s bucket if it holds them; otherwise take nothing. */
    take(id: string, cost: number): Take {
      const t = now();
      sweep(t);
      const tokens = level(id, t);
      const ok = tokens >= cost;
      const left = ok ? tokens - cost : tokens;
      // Re-inserted, so that Map order is least recently used first.
      buckets.delete(id);
      buckets.set(id, { tokens: left, at: t });
      if (buckets.size > maxBuckets) buckets.delete(buckets.keys().next().value!);
      return {
        ok,
        remaining: Math.floor(left),
        retryAfterSeconds: ok ? 0 : Math.max(1, Math.ceil((cost - tokens) / rate)),
        fullInSeconds: Math.ceil((burst - left) / rate),
      };
    },
    /** Buckets held now (for tests of the memory bound). */
    size: () => buckets.size,
  };
}

/**
 * The client a request comes from: the socket's address (handed in by src/api/serve.ts as `env.remoteAddress`),
 * or, when that address is a trusted proxy, the rightmost X-Forwarded-For entry that is not one (the leftmost
 * entries are whatever the client claimed). IPv6 clients are counted by their /64, which one host usually holds.
 */
export function createClientAddress(trustedProxies: string[] = []): (c: Context) => string {
  const trusted = new BlockList();
  for (const entry of trustedProxies) {
    const [address, prefix] = entry.split("/");
    const type = isIP(address) === 6 ? "ipv6" : "ipv4";
    if (prefix === undefined) trusted.addAddress(address, type);
    else trusted.addSubnet(address, Number(prefix), type);
  }
  const isTrusted = (address: string) => {
    const family = isIP(address);
    return family !== 0 && trusted.check(address, family === 6 ? "ipv6" : "ipv4");
  };
  return (c) => {
    const socket = (c.env as { remoteAddress?: string } | undefined)?.remoteAddress ?? "unknown";
    let client = socket;
    if (trustedProxies.length > 0 && isTrusted(socket)) {
      const hops = (c.req.header("X-Forwarded-For") ?? "").split(",").map((h) => h.trim()).filter((h) => h);
      for (let i = hops.length - 1; i >= 0; i--) {
        if (isIP(hops[i]) === 0) break; // garbage: nothing left of it can be believed
        client = hops[i];
        if (!isTrusted(hops[i])) break;
      }
    }
    return isIP(client) === 6 ? ipv6Prefix64(client) : client;
  };
}

/** The first four groups of an IPv6 address, expanded (`2001:db8:0:1::5` → `2001:db8:0:1::/64`). */
function ipv6Prefix64(address: string): string {
  const [head, tail = ""] = address.split("%")[0].split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  if (address.includes(".")) return address; // IPv4-mapped: one IPv4 host
  const groups = [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, "")).join(":")}::/64`;
}

/** A POST of an NDJSON batch: charged by its lines in the handler (`admit`), not here. */
const BATCH_PATH = /^\/ingest\/batch(\/[^/]+)?\/?$/;

/** The limiter: `middleware` charges every counted request one, `admit(c, n)` charges a batch its lines. */
export type RateLimit = { middleware: MiddlewareHandler; admit(c: Context, messages: number): void };

/** The API's rate limit, or undefined when --rate-limit is unset. */
export function createRateLimit(
  settings: RateLimitSettings,
  metrics: Metrics,
  now?: () => number,
): RateLimit | undefined {
  const { rate } = settings;
  if (rate === undefined) return undefined;
  const burst = settings.burst ?? rate;
  const buckets = createTokenBuckets({ rate, burst, now });
  const addressOf = createClientAddress(settings.trustedProxies);
  const policy = `"${POLICY}";q=${burst};w=${Math.ceil(burst / rate)}`;
  const clientOf = (c: Context) => {
    const key = c.get(API_KEY_NAME) as string | undefined;
    return key === undefined ? `address ${addressOf(c)}` : `key ${key}`;
  };

  const admit = (c: Context, messages: number) => {
    const cost = Math.max(1, messages);
    const route = accessFor(c.req.method, c.req.path)?.row.path ?? "unmatched";
    if (cost > burst) {
      metrics.rateLimited.inc({ route });
      c.header("RateLimit-Policy", policy);
      throw new HttpError(
        413,
        `${cost} messages in one request: more than --rate-limit-burst (${burst}) allows at once; ` +
          `send at most ${burst} lines a request`,
        { max_messages: burst },
      );
    }
    const take = buckets.take(clientOf(c), cost);
    const headers = {
      "RateLimit-Policy": policy,
      "RateLimit": `"${POLICY}";r=${take.remaining};t=${take.fullInSeconds}`,
    };
    if (!take.ok) {
      metrics.rateLimited.inc({ route });
      throw new RateLimitedError(
        `rate limit: ${cost === 1 ? "this request" : `${cost} messages`} would exceed ${rate} messages a ` +
          `second (burst ${burst}) for ${clientOf(c)}; retry after ${take.retryAfterSeconds} s`,
        take.retryAfterSeconds,
        headers,
      );
    }
    for (const [name, value] of Object.entries(headers)) c.header(name, value);
  };

  const middleware: MiddlewareHandler = async (c, next) => {
    const need = accessFor(c.req.method, c.req.path)?.row.need;
    const counted = need !== "public" && need !== "metrics" && c.req.method !== "OPTIONS";
    if (counted && !(c.req.method === "POST" && BATCH_PATH.test(c.req.path))) admit(c, 1);
    await next();
  };
  return { middleware, admit };
}
