// An OpenID Provider (node-oidc-provider) sitting beside Rescind:
//
// - every access and refresh token it issues, refresh rotations included, is
//   handed to Rescind before the client gets it (adapter.js);
// - its discovery document names Rescind's revocation and introspection
//   endpoints, so clients log out at Rescind and resource servers ask Rescind;
// - Rescind's signed revocation webhook ends the grant here too (webhook.js),
//   so a refresh after a revocation at Rescind fails.
//
// Configuration, from the environment:
//   HOST, PORT                 where this server listens (127.0.0.1, 3000)
//   ISSUER                     its issuer URL (http://localhost:$PORT)
//   RESCIND_ISSUER             Rescind's issuer: its endpoints live under it (https://localhost:8443)
//   RESCIND_ADMIN_URL          Rescind's admin listener (https://localhost:8444)
//   RESCIND_ADMIN_TOKEN        the admin bearer token (required)
//   RESCIND_WEBHOOK_SECRET     the webhook's HMAC key, as in Rescind's [[events.webhooks]] (required)
//   CLIENT_ID, CLIENT_REDIRECT_URI   the one (public, PKCE) client (app, http://localhost:3001/callback)
//   RESCIND_BACKCHANNEL_LOGOUT set to 1: clients get Rescind's back-channel
//                              logout endpoint as backchannel_logout_uri (see
//                              docs/integrating.md, point 7)
// Rescind's self-signed certificate is trusted with NODE_EXTRA_CA_CERTS.

import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';

import { rescindAdapter } from './adapter.js';
import { Rescind } from './rescind.js';
import { revocationWebhook } from './webhook.js';

/** Where Rescind posts its revocation events: `url` of the [[events.webhooks]] table. */
export const WEBHOOK_PATH = '/rescind/events';

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set`);
  return value;
}

const port = Number(process.env.PORT || 3000);
const issuer = process.env.ISSUER || `http://localhost:${port}`;
const rescindIssuer = (process.env.RESCIND_ISSUER || 'https://localhost:8443').replace(/\/+$/, '');
const rescind = new Rescind({
  issuer: rescindIssuer,
  adminUrl: process.env.RESCIND_ADMIN_URL || 'https://localhost:8444',
  adminToken: required('RESCIND_ADMIN_TOKEN'),
});
const webhookSecret = required('RESCIND_WEBHOOK_SECRET');
const backchannelLogout = process.env.RESCIND_BACKCHANNEL_LOGOUT === '1';

const client = {
  client_id: process.env.CLIENT_ID || 'app',
  client_name: 'Example app',
  // Public, with PKCE: it revokes at Rescind by client_id alone.
  token_endpoint_auth_method: 'none',
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  redirect_uris: [process.env.CLIENT_REDIRECT_URI || 'http://localhost:3001/callback'],
  ...(backchannelLogout
    ? {
      // Logout at this server reaches Rescind, which revokes the session's grants.
      backchannel_logout_uri: `${rescindIssuer}/oauth2/backchannel-logout`,
      backchannel_logout_session_required: true,
    }
    : {}),
};

const { Adapter, grants, revokeGrant } = rescindAdapter(rescind);

const provider = new Provider(issuer, {
  adapter: Adapter,
  clients: [client],
  // A development login page (any login, any password): replace with yours.
  features: {
    devInteractions: { enabled: true },
    // Revocation and introspection are Rescind's: this server serves neither.
    revocation: { enabled: false },
    introspection: { enabled: false },
    backchannelLogout: { enabled: backchannelLogout },
  },
  // Every refresh issues a new refresh token: each one is handed over as an
  // addition to the grant at Rescind.
  rotateRefreshToken: true,
  // Extra discovery metadata: clients find Rescind here.
  discovery: {
    revocation_endpoint: `${rescindIssuer}/oauth2/revoke`,
    revocation_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
    introspection_endpoint: `${rescindIssuer}/oauth2/introspect`,
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
  },
  cookies: { keys: [process.env.COOKIE_KEY || randomBytes(32).toString('base64url')] },
  // The provider refuses to send its own requests (back-channel logout
  // among them) to special-use addresses such as loopback or private
  // networks, a guard against request forgery. Rescind is a known server of
  // this deployment, often on a private network: requests to it go without
  // that guard, every other request with it.
  fetch: (url, options) => {
    if (new URL(url).origin === new URL(rescindIssuer).origin) {
      const { dispatcher: _guard, ...unguarded } = options;
      return globalThis.fetch(url, unguarded);
    }
    return globalThis.fetch(url, options);
  },
});
// Opaque access tokens are the default (no resource indicator asks for a
// JWT), so Rescind can store them by hash.

provider.on('backchannel.error', (_ctx, error, client) => {
  // A logout Rescind did not take: its grants stay live there until they expire.
  console.error(`back-channel logout to Rescind failed for ${client.clientId}: ${error.message}`);
});

provider.on('server_error', (_ctx, error) => {
  // The message only: it names no token (the Rescind class's errors never do).
  console.error(`token request failed: ${error.message}`);
});

const webhook = revocationWebhook({ secret: webhookSecret, grants, revokeGrant });
const oidc = provider.callback();

await rescind.ensureClient({ clientId: client.client_id, name: client.client_name });

createServer((req, res) => (req.url === WEBHOOK_PATH ? webhook(req, res) : oidc(req, res)))
  .listen(port, process.env.HOST || '127.0.0.1', () => {
    console.log(`oidc-provider listening on ${issuer}, revocation at ${rescindIssuer}`);
  });
