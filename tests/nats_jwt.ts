/**
 * A NATS operator, account and user made offline for tests (decentralized auth, as `nsc` makes it): JWTs are
 * signed with the nkeys nats.js ships, so no nsc and no @nats-io/jwt are needed. Only what nats-server checks is
 * filled in; the claims follow https://docs.nats.io/running-a-nats-service/configuration/securing_nats/jwt.
 */
import { createHash } from "node:crypto";
import { nkeys } from "@nats-io/transport-node";

const b64url = (data: Uint8Array | string) =>
  Buffer.from(typeof data === "string" ? new TextEncoder().encode(data) : data).toString("base64url");

/** A JWT of `claims` (`nats` section and subject) issued by `issuer`. */
function sign(issuer: nkeys.KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const claims: Record<string, unknown> = {
    iat: Math.floor(Date.now() / 1000),
    iss: issuer.getPublicKey(),
    name,
    sub: subject,
    nats: { ...nats, version: 2 },
  };
  // jti: a hash of the claims, as the nats jwt library makes it (the server does not check it).
  claims.jti = createHash("sha256").update(JSON.stringify(claims)).digest("base64url");
  const head = b64url(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" }));
  const body = b64url(JSON.stringify(claims));
  return `${head}.${body}.${b64url(issuer.sign(new TextEncoder().encode(`${head}.${body}`)))}`;
}

const UNLIMITED = {
  subs: -1,
  data: -1,
  payload: -1,
  imports: -1,
  exports: -1,
  wildcards: true,
  conn: -1,
  leaf: -1,
  mem_storage: -1,
  disk_storage: -1,
  streams: -1,
  consumer: -1,
};

/** nats-server configuration lines for an operator with one JetStream account, and a user's .creds text. */
export function createOperatorSetup(): {
  serverConfig: string;
  creds: (expiresInSeconds?: number) => string;
} {
  const operator = nkeys.createOperator();
  const account = nkeys.createAccount();
  const operatorJwt = sign(operator, operator.getPublicKey(), "test-operator", { type: "operator" });
  // JetStream needs a system account for its internal subscriptions.
  const system = nkeys.createAccount();
  const systemJwt = sign(operator, system.getPublicKey(), "SYS", { type: "account", limits: { conn: -1 } });
  const accountJwt = sign(operator, account.getPublicKey(), "nomnom", { type: "account", limits: UNLIMITED });
  const serverConfig = `operator: ${operatorJwt}\nsystem_account: ${system.getPublicKey()}\n` +
    `resolver: MEMORY\nresolver_preload: {\n${system.getPublicKey()}: ${systemJwt}\n` +
    `${account.getPublicKey()}: ${accountJwt}\n}\n`;
  const creds = () => {
    const user = nkeys.createUser();
    const jwt = sign(account, user.getPublicKey(), "nomnom-user", {
      type: "user",
      pub: {},
      sub: {},
      subs: -1,
      data: -1,
      payload: -1,
    });
    const seed = new TextDecoder().decode(user.getSeed());
    return `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n` +
      `************************* IMPORTANT *************************\n` +
      `NKEY Seed printed below can be used to sign and prove identity.\n\n` +
      `-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`;
  };
  return { serverConfig, creds };
}
