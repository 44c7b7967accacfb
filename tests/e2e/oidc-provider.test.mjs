// End to end: node-oidc-provider (examples/oidc-provider) beside the real
// `rescind` binary on PostgreSQL, a resource server that introspects at
// Rescind, openid-client as the OAuth client, and a Shared Signals receiver
// that checks Rescind's security event tokens with jose. Real processes, real
// HTTP; tests/e2e/run prepares the environment (E2E_* variables) and runs this.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import * as jose from 'jose';
import * as oauth from 'openid-client';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set (tests/e2e/run sets it)`);
  return value;
};

const work = env('E2E_WORK');
const rescindIssuer = `https://127.0.0.1:${env('E2E_PUBLIC_PORT')}`;
const adminUrl = `https://127.0.0.1:${env('E2E_ADMIN_PORT')}`;
const adminToken = env('E2E_ADMIN_TOKEN');
const asPort = env('E2E_AS_PORT');
const asIssuer = `http://127.0.0.1:${asPort}`;
const rsUrl = `http://127.0.0.1:${env('E2E_RS_PORT')}/me`;
const redirectUri = 'http://127.0.0.1:9/callback';
const webhookSecret = env('E2E_WEBHOOK_SECRET');
// The Shared Signals receiver tests/e2e/run registered: its bearer
// credential (never logged) and the audience of its tokens.
const ssfCredential = env('E2E_SSF_CREDENTIAL');
const ssfAudience = env('E2E_SSF_AUDIENCE');

/** The environment without Rescind's configuration variables, which Rescind alone reads. */
const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RESCIND_') && k !== 'DATABASE_URL'));

const children = new Set();

function start(name, command, args, childEnv) {
  const child = spawn(command, args, { env: { ...baseEnv, ...childEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  const keep = (chunk) => { log.push(chunk.toString()); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.exited = once(child, 'exit');
  child.log = () => `--- ${name} output ---\n${log.join('')}`;
  children.add(child);
  return child;
}

async function stop(child) {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    await child.exited;
  }
  children.delete(child);
}

async function waitFor(what, url, child, limitMs = 30000) {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited\n${child.log()}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (response.ok) return;
    } catch { /* not yet */ }
    await new Promise((resolve) => { setTimeout(resolve, 100); });
  }
  throw new Error(`${what} not ready within ${limitMs} ms\n${child.log()}`);
}

// --- Rescind: the real binary on PostgreSQL, with the AS's webhook.
const configFile = join(work, 'rescind.toml');
writeFileSync(configFile, `
[[events.webhooks]]
name = "oidc-provider"
url = "${asIssuer}/rescind/events"
secret = "${webhookSecret}"
retry_initial = "1s"

# The AS's logout tokens: audience the client they are about (Rescind's
# endpoint is that client's backchannel_logout_uri), keys at its jwks_uri.
[[logout.upstream]]
issuer = "${asIssuer}"
audience = "app"
jwks_uri = "${asIssuer}/jwks"

# The Shared Signals transmitter, polled by the receiver the cases play.
[ssf]
enabled = true
`);

let rescind;
async function startRescind() {
  rescind = start('rescind', env('E2E_RESCIND_BIN'), ['serve'], {
    RESCIND_CONFIG: configFile,
    RESCIND_DATA_DIR: join(work, 'data'),
    RESCIND_ISSUER: rescindIssuer,
    RESCIND_SERVER__LISTEN: `127.0.0.1:${env('E2E_PUBLIC_PORT')}`,
    RESCIND_ADMIN__LISTEN: `127.0.0.1:${env('E2E_ADMIN_PORT')}`,
    RESCIND_ADMIN__TOKEN_HASH: env('E2E_ADMIN_TOKEN_HASH'),
    DATABASE_URL: env('E2E_DATABASE_URL'),
    RESCIND_LOG__LEVEL: 'warn',
  });
  await waitFor('rescind', `${rescindIssuer}/health/ready`, rescind);
}

async function admin(method, path, body) {
  const response = await fetch(`${adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

let rsBasic;
async function introspect(token) {
  const response = await fetch(`${rescindIssuer}/oauth2/introspect`, {
    method: 'POST',
    headers: { authorization: `Basic ${rsBasic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }),
  });
  assert.equal(response.status, 200);
  return response.json();
}

/** Rescind's ids of a subject's grants. */
async function grantIds(subject) {
  const run = promisify(execFile)(env('E2E_PSQL'), [
    env('E2E_DATABASE_URL'), '-XAtq', '-v', 'ON_ERROR_STOP=1', '-v', `subject=${subject}`,
  ]);
  run.child.stdin.end("SELECT id FROM grants WHERE subject = :'subject';\n");
  return (await run).stdout.split('\n').filter(Boolean);
}

async function storedGrants(subject) {
  // psql interpolates :'subject' (quoted) only in what it reads, not in -c.
  const run = promisify(execFile)(env('E2E_PSQL'), [
    env('E2E_DATABASE_URL'), '-XAtq', '-v', 'ON_ERROR_STOP=1', '-v', `subject=${subject}`,
  ]);
  run.child.stdin.end("SELECT count(*) FROM grants WHERE subject = :'subject';\n");
  const { stdout } = await run;
  return Number(stdout.trim());
}

before(async () => {
  await startRescind();
  const created = await admin('POST', '/admin/clients', { client_id: 'rs', resource_server: true, name: 'Resource server' });
  assert.equal(created.status, 201);
  rsBasic = Buffer.from(`rs:${encodeURIComponent(created.body.client_secret)}`).toString('base64');

  const dir = env('E2E_EXAMPLE_DIR');
  const provider = start('oidc-provider', process.execPath, [join(dir, 'provider.js')], {
    PORT: asPort,
    ISSUER: asIssuer,
    RESCIND_ISSUER: rescindIssuer,
    RESCIND_ADMIN_URL: adminUrl,
    RESCIND_ADMIN_TOKEN: adminToken,
    RESCIND_WEBHOOK_SECRET: webhookSecret,
    CLIENT_REDIRECT_URI: redirectUri,
    RESCIND_BACKCHANNEL_LOGOUT: '1',
  });
  await waitFor('oidc-provider', `${asIssuer}/.well-known/openid-configuration`, provider);
  const rs = start('resource server', process.execPath, [join(dir, 'resource-server.js')], {
    PORT: env('E2E_RS_PORT'),
    RESCIND_ISSUER: rescindIssuer,
    RS_CLIENT_ID: 'rs',
    RS_CLIENT_SECRET: created.body.client_secret,
  });
  // The resource server answers 401 to a request without a token once it is up.
  const deadline = Date.now() + 30000;
  for (;;) {
    try {
      if ((await fetch(rsUrl)).status === 401) break;
    } catch { /* not yet */ }
    if (Date.now() > deadline || rs.exitCode !== null) throw new Error(`resource server not ready\n${rs.log()}`);
    await new Promise((resolve) => { setTimeout(resolve, 100); });
  }
});

after(async () => {
  for (const child of [...children]) await stop(child);
});

// --- The OAuth client: openid-client, authorization code with PKCE.
async function clientConfig() {
  return oauth.discovery(new URL(asIssuer), 'app', undefined, oauth.None(), {
    // The AS listens on plain HTTP on loopback in this test; Rescind is HTTPS.
    execute: [oauth.allowInsecureRequests],
  });
}

/** One browser request: sends and keeps the cookies of `jar`, follows no redirect. */
async function browse(request, jar) {
  const response = await fetch(request.url, {
    method: request.method,
    redirect: 'manual',
    body: request.body,
    headers: {
      cookie: [...jar].map(([name, value]) => `${name}=${value}`).join('; '),
      ...(request.body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
    },
  });
  for (const cookie of response.headers.getSetCookie()) {
    const [pair] = cookie.split(';');
    const at = pair.indexOf('=');
    jar.set(pair.slice(0, at), pair.slice(at + 1));
  }
  return response;
}

/** The browser: follows redirects, keeps cookies (in `jar`: one login session), submits the development login and consent forms. */
async function authorize(url, subject, jar) {
  let request = { url: url.href, method: 'GET', body: undefined };
  for (let step = 0; step < 20; step += 1) {
    if (request.url.startsWith(redirectUri)) return new URL(request.url);
    const response = await browse(request, jar);
    if (response.status >= 300 && response.status < 400) {
      request = { url: new URL(response.headers.get('location'), request.url).href, method: 'GET' };
      continue;
    }
    const html = await response.text();
    assert.equal(response.status, 200, `the authorisation server answered ${response.status}: ${html}`);
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    const prompt = /name="prompt" value="(\w+)"/.exec(html)?.[1];
    assert.ok(action && prompt, 'a login or consent form');
    const form = prompt === 'login' ? { prompt, login: subject, password: 'any' } : { prompt };
    request = { url: new URL(action, request.url).href, method: 'POST', body: new URLSearchParams(form).toString() };
  }
  throw new Error('too many steps before the redirect back to the client');
}

/** A user signs in and consents; the client gets an access and a refresh token. `jar` holds the browser's cookies: its login session. */
async function signIn(config, subject, jar = new Map()) {
  const verifier = oauth.randomPKCECodeVerifier();
  const state = oauth.randomState();
  const url = oauth.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid offline_access',
    prompt: 'consent',
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
  });
  const callback = await authorize(url, subject, jar);
  const tokens = await oauth.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
  // Opaque, so that Rescind's hash is the only thing that makes it valid (a JWT has dots).
  assert.ok(!tokens.access_token.includes('.') && !tokens.refresh_token.includes('.'), 'opaque tokens');
  return tokens;
}

async function deliveredCount() {
  const { status, body } = await admin('GET', '/admin/webhooks/deliveries?endpoint=oidc-provider&state=delivered&limit=1000');
  assert.equal(status, 200);
  return body.items.length;
}

async function refreshError(config, refreshToken) {
  try {
    await oauth.refreshTokenGrant(config, refreshToken);
  } catch (error) {
    return error.error ?? error.code;
  }
  return 'refreshed';
}

/** Once the grant is revoked at Rescind: dead at Rescind, at the resource server, and (within 1 s) at the AS. */
async function assertGrantEnded(config, tokens, revokedAt, deliveredBefore) {
  assert.equal((await introspect(tokens.access_token)).active, false, 'access token inactive at Rescind');
  assert.equal((await introspect(tokens.refresh_token)).active, false, 'refresh token inactive at Rescind');
  const rs = await fetch(rsUrl, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  assert.equal(rs.status, 401, 'the resource server refuses the access token');

  // The AS hears the revocation through the webhook and ends the grant: a
  // refresh is then an ordinary invalid_grant. (Without the webhook the
  // refresh would still fail, as server_error, because Rescind refuses to
  // add the rotated token to a revoked grant: not what this checks.)
  while ((await deliveredCount()) <= deliveredBefore) {
    assert.ok(Date.now() - revokedAt < 1000, 'the revocation webhook reached the AS within 1 s');
    await new Promise((resolve) => { setTimeout(resolve, 20); });
  }
  assert.equal(await refreshError(config, tokens.refresh_token), 'invalid_grant');
  const elapsed = Date.now() - revokedAt;
  assert.ok(elapsed < 1000, `the AS refused the refresh token ${elapsed} ms after the revocation`);
  console.log(`the AS refused the refresh token ${elapsed} ms after the revocation`);
}

async function assertLive(tokens) {
  assert.equal((await introspect(tokens.access_token)).active, true);
  assert.equal((await introspect(tokens.refresh_token)).active, true);
  const rs = await fetch(rsUrl, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  assert.equal(rs.status, 200);
}

test('discovery names Rescind\'s revocation and introspection endpoints', async () => {
  const metadata = (await clientConfig()).serverMetadata();
  assert.equal(metadata.revocation_endpoint, `${rescindIssuer}/oauth2/revoke`);
  assert.equal(metadata.introspection_endpoint, `${rescindIssuer}/oauth2/introspect`);
});

test('a refresh rotation is handed over as an addition to the grant', async () => {
  const config = await clientConfig();
  const first = await signIn(config, 'dave');
  const rotated = await oauth.refreshTokenGrant(config, first.refresh_token);
  assert.notEqual(rotated.refresh_token, first.refresh_token);
  await assertLive(rotated);
  assert.equal(await storedGrants('dave'), 1, 'one grant at Rescind, the rotated tokens added to it');
  // Logging out with the first refresh token, superseded by rotation, still ends the grant.
  await oauth.tokenRevocation(config, first.refresh_token, { token_type_hint: 'refresh_token' });
  assert.equal((await introspect(rotated.access_token)).active, false);
  assert.equal((await introspect(rotated.refresh_token)).active, false);
});

test('a refresh token used twice ends the grant at Rescind too', async () => {
  const config = await clientConfig();
  const first = await signIn(config, 'frank');
  const rotated = await oauth.refreshTokenGrant(config, first.refresh_token);
  await assertLive(rotated);
  // A stolen copy of the first refresh token: oidc-provider's reuse detection ends the grant.
  assert.equal(await refreshError(config, first.refresh_token), 'invalid_grant');
  assert.equal((await introspect(rotated.access_token)).active, false, 'the access token is dead at Rescind');
  assert.equal((await introspect(rotated.refresh_token)).active, false);
});

test('the AS ends a grant only for a delivery signed with the secret, within the replay window', async () => {
  const config = await clientConfig();
  let tokens = await signIn(config, 'erin');
  const [grantId] = await grantIds('erin');
  const body = JSON.stringify({
    jti: 'forged', iss: rescindIssuer, txn: grantId,
    events: { 'urn:rescind:event:grant-revoked': { grant_id: grantId, client_id: 'app', subject: 'erin', reason: 'admin_bulk' } },
  });
  const deliver = (timestamp, secret) => fetch(`${asIssuer}/rescind/events`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'rescind-timestamp': String(timestamp),
      'rescind-signature': `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`,
    },
    body,
  });
  const now = Math.floor(Date.now() / 1000);
  assert.equal((await deliver(now, 'not the secret')).status, 401, 'a wrong signature is refused');
  assert.equal((await deliver(now - 600, webhookSecret)).status, 401, 'a replay outside the window is refused');
  tokens = await oauth.refreshTokenGrant(config, tokens.refresh_token);
  assert.equal((await deliver(now, webhookSecret)).status, 204);
  assert.equal(await refreshError(config, tokens.refresh_token), 'invalid_grant', 'a signed delivery ends the grant');
});

test('case 1: the client logs out at Rescind (RFC 7009, refresh token)', async () => {
  const config = await clientConfig();
  const tokens = await signIn(config, 'alice');
  await assertLive(tokens);
  const deliveredBefore = await deliveredCount();
  await oauth.tokenRevocation(config, tokens.refresh_token, { token_type_hint: 'refresh_token' });
  await assertGrantEnded(config, tokens, Date.now(), deliveredBefore);
});

// --- The Shared Signals receiver: discovers Rescind as a transmitter, polls
// its stream (RFC 8936) and verifies every token with jose, an implementation
// of its own, against the key set Rescind publishes.
const RISC_CREDENTIAL_COMPROMISE = 'https://schemas.openid.net/secevent/risc/event-type/credential-compromise';
const CAEP_SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked';
const POLL_DELIVERY = 'urn:ietf:rfc:8936';

/** A request of the receiver, authenticated with its credential; at most 15 s. */
async function asReceiver(url, body) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${ssfCredential}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(15000),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/** The receiver reads the transmitter's metadata and creates its poll stream. */
async function openStream(events) {
  const response = await fetch(`${rescindIssuer}/.well-known/ssf-configuration`);
  assert.equal(response.status, 200);
  const metadata = await response.json();
  assert.equal(metadata.issuer, rescindIssuer);
  assert.ok(metadata.delivery_methods_supported.includes(POLL_DELIVERY), 'poll delivery offered');
  const created = await asReceiver(metadata.configuration_endpoint, {
    delivery: { method: POLL_DELIVERY },
    events_requested: events,
  });
  assert.equal(created.status, 201, `stream created: ${JSON.stringify(created.body)}`);
  assert.deepEqual([...created.body.events_delivered].sort(), [...events].sort());
  assert.equal(created.body.delivery.method, POLL_DELIVERY);
  return {
    pollUrl: created.body.delivery.endpoint_url,
    keys: jose.createRemoteJWKSet(new URL(metadata.jwks_uri)),
  };
}

/**
 * Polls the stream until `done()` holds, `limitMs` at most, handing each
 * token received for the first time to `take(jti, token)`; answers the jtis
 * received.
 */
async function pollUntil(stream, take, done, limitMs) {
  const received = new Set();
  const deadline = Date.now() + limitMs;
  while (!done()) {
    assert.ok(Date.now() < deadline, `the events reached the receiver within ${limitMs} ms (got ${received.size} tokens)`);
    // A long poll: Rescind answers once an event is queued, or after ssf.poll_wait.
    const { status, body } = await asReceiver(stream.pollUrl, { maxEvents: 10, returnImmediately: false });
    assert.equal(status, 200, `poll: ${JSON.stringify(body)}`);
    for (const [jti, token] of Object.entries(body.sets)) {
      if (!received.has(jti)) await take(jti, token);
      received.add(jti);
    }
  }
  return [...received];
}

/**
 * A security event token checked as RFC 8417 and SSF 1.0 ask: signed with a
 * key of Rescind's key set, explicitly typed, from Rescind to this receiver,
 * `iat` and `jti` present, exactly one event, never `sub` or `exp`.
 */
async function verifiedSet(stream, jti, token, notBefore) {
  const { payload, protectedHeader } = await jose.jwtVerify(token, stream.keys, {
    issuer: rescindIssuer,
    audience: ssfAudience,
    typ: 'secevent+jwt',
    algorithms: ['RS256', 'ES256'],
    requiredClaims: ['iss', 'aud', 'iat', 'jti'],
  });
  assert.equal(protectedHeader.typ, 'secevent+jwt');
  assert.equal(payload.iss, rescindIssuer);
  assert.equal(payload.aud, ssfAudience);
  assert.equal(payload.jti, jti, 'the poll answer is keyed by the token\'s jti');
  const now = Math.ceil(Date.now() / 1000);
  assert.ok(Number.isInteger(payload.iat) && payload.iat >= notBefore && payload.iat <= now,
    `iat ${payload.iat} between ${notBefore} and ${now}`);
  assert.equal(payload.sub, undefined, 'no sub');
  assert.equal(payload.exp, undefined, 'no exp');
  assert.equal(Object.keys(payload.events).length, 1, 'exactly one event');
  return payload;
}

const eventType = (payload) => Object.keys(payload.events)[0];

test('case 3: a secret scanner reports the access token anonymously; a Shared Signals receiver hears of the compromise', async () => {
  const stream = await openStream([RISC_CREDENTIAL_COMPROMISE, CAEP_SESSION_REVOKED]);
  const config = await clientConfig();
  const tokens = await signIn(config, 'bob');
  await assertLive(tokens);
  const [grantId] = await grantIds('bob');
  const sid = tokens.claims()?.sid;
  assert.ok(typeof sid === 'string' && sid, 'the ID token names its session');
  const deliveredBefore = await deliveredCount();
  const reportStart = Date.now();
  const reportedAt = Math.floor(reportStart / 1000);
  const report = await fetch(`${rescindIssuer}/credentials/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ credentials: [tokens.access_token] }),
  });
  assert.equal(report.status, 202);
  await assertGrantEnded(config, tokens, Date.now(), deliveredBefore);

  // Every token the receiver gets verifies; among them, about bob's grant,
  // a RISC credential-compromise and a CAEP session-revoked.
  const verified = [];
  const about = (type) => verified.find((payload) => eventType(payload) === type && payload.txn === grantId);
  const jtis = await pollUntil(
    stream,
    async (jti, token) => { verified.push(await verifiedSet(stream, jti, token, reportedAt)); },
    () => about(RISC_CREDENTIAL_COMPROMISE) && about(CAEP_SESSION_REVOKED),
    20000,
  );
  console.log(`the receiver verified the credential-compromise token ${Date.now() - reportStart} ms after the report`);
  const user = { format: 'iss_sub', iss: rescindIssuer, sub: 'bob' };
  // RFC 9493 identifiers in an SSF complex subject: the user, and the login
  // session the grant was given in (the ID token's sid).
  const subject = { format: 'complex', user, session: { format: 'opaque', id: sid } };
  const compromise = about(RISC_CREDENTIAL_COMPROMISE);
  assert.deepEqual(compromise.sub_id, subject);
  const leaked = compromise.events[RISC_CREDENTIAL_COMPROMISE];
  assert.equal(leaked.credential_type, 'oauth-token');
  assert.ok(leaked.event_timestamp >= reportedAt && leaked.event_timestamp <= compromise.iat, 'event_timestamp: the report');
  const revoked = about(CAEP_SESSION_REVOKED);
  assert.deepEqual(revoked.sub_id, subject);
  assert.equal(revoked.events[CAEP_SESSION_REVOKED].initiating_entity, 'system');
  assert.notEqual(revoked.jti, compromise.jti);

  // Acknowledged, a token is not sent again.
  const ack = await asReceiver(stream.pollUrl, { ack: jtis, maxEvents: 0, returnImmediately: true });
  assert.equal(ack.status, 200, `ack: ${JSON.stringify(ack.body)}`);
  const again = await asReceiver(stream.pollUrl, { returnImmediately: true });
  assert.equal(again.status, 200);
  for (const jti of jtis) assert.ok(!(jti in again.body.sets), 'an acknowledged token is not delivered again');
});

test('case 4: with Rescind down the token request fails, and no token goes out unknown to Rescind', async () => {
  const config = await clientConfig();
  await stop(rescind);
  let outcome;
  try {
    outcome = await signIn(config, 'carol');
  } catch (error) {
    outcome = error;
  }
  assert.ok(!outcome?.access_token, 'no token handed out');
  // openid-client reports a 5xx as an unexpected answer, the Response as its cause.
  const answer = outcome.cause;
  assert.ok(answer instanceof Response, `the token request fails: ${outcome.message}`);
  assert.equal(new URL(answer.url).pathname, '/token');
  assert.equal(answer.status, 500);
  assert.equal((await answer.json()).error, 'server_error');

  await startRescind();
  assert.equal(await storedGrants('carol'), 0, 'Rescind stored nothing of the failed issuing');
  // The client starts over (the code was consumed): now Rescind knows every token it gets.
  const tokens = await signIn(config, 'carol');
  await assertLive(tokens);
  assert.equal(await storedGrants('carol'), 1);
});

/** The user signs out at the AS (RP-initiated logout): its confirmation form, submitted from the browser holding the session. */
async function signOut(config, tokens, jar) {
  const url = oauth.buildEndSessionUrl(config, { id_token_hint: tokens.id_token });
  const page = await browse({ url: url.href, method: 'GET' }, jar);
  const html = await page.text();
  const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
  assert.ok(action && xsrf, `a logout confirmation form: ${page.status} ${html}`);
  const done = await browse({
    url: new URL(action, url).href,
    method: 'POST',
    body: new URLSearchParams({ xsrf, logout: 'yes' }).toString(),
  }, jar);
  assert.ok(done.status < 400, `the AS signed the user out: ${done.status}`);
}

/** How the revocations of a subject's grants were recorded at Rescind: presenter kind and reason, one line each. */
async function recordedRevocations(subject) {
  const run = promisify(execFile)(env('E2E_PSQL'), [
    env('E2E_DATABASE_URL'), '-XAtq', '-v', 'ON_ERROR_STOP=1', '-v', `subject=${subject}`,
  ]);
  run.child.stdin.end("SELECT r.presenter_kind || ' ' || r.reason FROM revocations r JOIN grants g ON g.id = r.grant_id WHERE g.subject = :'subject';\n");
  return (await run).stdout.split('\n').filter(Boolean);
}

test('case 2: a logout at the AS revokes that session\'s grants at Rescind, and not another session\'s', async () => {
  const config = await clientConfig();
  // Two logins of one user, in two browsers: two sessions.
  const laptop = new Map();
  const phone = new Map();
  const first = await signIn(config, 'gina', laptop);
  const second = await signIn(config, 'gina', phone);
  await assertLive(first);
  await assertLive(second);
  const deliveredBefore = await deliveredCount();
  // The AS sends its logout token to Rescind before it answers the logout.
  await signOut(config, first, laptop);
  await assertGrantEnded(config, first, Date.now(), deliveredBefore);
  assert.deepEqual(await recordedRevocations('gina'), ['backchannel_logout backchannel_logout'],
    'revoked by the back-channel logout, once');
  await assertLive(second);
});
