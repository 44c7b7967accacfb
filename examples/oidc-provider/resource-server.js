// A resource server that asks Rescind about every access token (README
// "Resource servers", way 1): a revoked token is refused within a second of
// its revocation on any Rescind instance.
//
// Configuration, from the environment:
//   HOST, PORT            where it listens (127.0.0.1, 3002)
//   RESCIND_ISSUER        Rescind's issuer (https://localhost:8443)
//   RS_CLIENT_ID          its client id at Rescind, a resource server
//                         (`rescind client create --id rs --resource-server`)
//   RS_CLIENT_SECRET      that client's secret (required)
//
// GET /me with `Authorization: Bearer <access token>` answers the token's
// subject, or 401.

import { createServer } from 'node:http';

const port = Number(process.env.PORT || 3002);
const introspectionEndpoint = `${(process.env.RESCIND_ISSUER || 'https://localhost:8443').replace(/\/+$/, '')}/oauth2/introspect`;
const clientId = process.env.RS_CLIENT_ID || 'rs';
const clientSecret = process.env.RS_CLIENT_SECRET;
if (!clientSecret) throw new Error('RS_CLIENT_SECRET must be set');

// client_secret_basic: id and secret form-encoded first (RFC 6749 §2.3.1).
const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64');

/** Rescind's introspection answer for `token`; throws when Rescind cannot answer. */
async function introspect(token) {
  const response = await fetch(introspectionEndpoint, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
    signal: AbortSignal.timeout(5000),
  });
  if (response.status !== 200) throw new Error(`introspection answered ${response.status}`);
  return response.json();
}

function answer(res, status, body, extra = {}) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...extra });
  res.end(JSON.stringify(body));
}

createServer(async (req, res) => {
  if (req.method !== 'GET' || req.url !== '/me') return answer(res, 404, { error: 'not_found' });
  const token = /^Bearer ([^\s]+)$/.exec(req.headers.authorization || '')?.[1];
  const challenge = { 'www-authenticate': 'Bearer error="invalid_token"' };
  if (!token) return answer(res, 401, { error: 'invalid_token' }, challenge);
  let info;
  try {
    info = await introspect(token);
  } catch (error) {
    // Fail closed: a token nobody vouches for is not served.
    console.error(`introspection failed: ${error.message}`);
    return answer(res, 503, { error: 'temporarily_unavailable' });
  }
  if (!info.active || info.token_type !== 'Bearer') return answer(res, 401, { error: 'invalid_token' }, challenge);
  return answer(res, 200, { sub: info.sub, client_id: info.client_id, scope: info.scope });
}).listen(port, process.env.HOST || '127.0.0.1', () => {
  console.log(`resource server listening on port ${port}, GET /me`);
});
