// Rescind's revocation webhook (README "Revocation events"): verify the
// signature, then end the grant here too, so that a refresh at this server
// fails once Rescind has revoked the grant.

import { createHmac, timingSafeEqual } from 'node:crypto';

/** The replay window: a signed timestamp further than this from our clock is refused. */
const MAX_SKEW_SECONDS = 300;
/** Bodies larger than this are refused unread: an event is well under 2 KiB. */
const MAX_BODY_BYTES = 64 * 1024;
const GRANT_REVOKED = 'urn:rescind:event:grant-revoked';

/**
 * True when `signature` is Rescind's `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`
 * and `timestamp` is within the replay window. Compared in constant time.
 */
export function verifySignature(secret, timestamp, signature, body, now = Date.now()) {
  if (typeof timestamp !== 'string' || !/^\d{1,12}$/.test(timestamp)) return false;
  if (Math.abs(now / 1000 - Number(timestamp)) > MAX_SKEW_SECONDS) return false;
  const expected = Buffer.from(
    `v1=${createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex')}`,
  );
  const given = Buffer.from(typeof signature === 'string' ? signature : '');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * The webhook's request handler.
 *
 * @param {{ secret: string, grants: Map<string, string>, revokeGrant: (grantId: string) => void }} options
 *   `grants` maps Rescind's grant ids to this server's; `revokeGrant` ends one here.
 */
export function revocationWebhook({ secret, grants, revokeGrant }) {
  const handle = async (req, res) => {
    const answer = (status) => {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end();
    };
    if (req.method !== 'POST') return answer(405);
    const body = await readBody(req);
    if (body === null) return answer(413);
    if (!verifySignature(secret, req.headers['rescind-timestamp'], req.headers['rescind-signature'], body)) {
      return answer(401);
    }
    let event;
    try {
      event = JSON.parse(body.toString('utf8'));
    } catch {
      return answer(400);
    }
    // Delivery is at least once; ending a grant twice is harmless, so no
    // deduplication on `jti` is needed here.
    const revoked = event.events?.[GRANT_REVOKED];
    const grantId = revoked && grants.get(revoked.grant_id);
    if (grantId) {
      revokeGrant(grantId);
      grants.delete(revoked.grant_id);
      console.log(`revocation webhook: grant ended (reason ${revoked.reason})`);
    }
    // A grant this server does not hold (another server's, or already gone) needs nothing.
    return answer(204);
  };
  return (req, res) => handle(req, res).catch((error) => {
    // Rescind retries what is not acknowledged.
    console.error(`revocation webhook failed: ${error.message}`);
    if (!res.headersSent) res.writeHead(500);
    res.end();
  });
}
