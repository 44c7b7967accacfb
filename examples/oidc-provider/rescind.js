// Rescind, as this authorisation server uses it: its admin API to hand a
// token over when it is issued and to register the clients tokens are issued
// to; its revocation endpoint when this server ends a grant itself.
//
// Only hashes leave this process: a token is sent as its SHA-256
// (`token_hash`), which is all Rescind ever stores.

import { createHash } from 'node:crypto';

/** One admin call's time limit: a slow Rescind fails issuing, it does not hang it. */
const CALL_TIMEOUT_MS = 5000;

export class RescindUnavailable extends Error {}

/** Rescind's grant id for a grant of this server: a UUID derived from its id. */
export function rescindGrantId(grantId) {
  const bytes = createHash('sha256').update(`oidc-provider grant ${grantId}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x80; // version 8: a name-based UUID of our own making
  bytes[8] = (bytes[8] & 0x3f) | 0x80; // the RFC 9562 variant
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function tokenHash(token) {
  return createHash('sha256').update(token).digest('hex');
}

export class Rescind {
  /** @param {{ issuer: string, adminUrl: string, adminToken: string }} options */
  constructor({ issuer, adminUrl, adminToken }) {
    this.revocationEndpoint = `${issuer.replace(/\/+$/, '')}/oauth2/revoke`;
    this.adminUrl = adminUrl.replace(/\/+$/, '');
    this.adminToken = adminToken;
  }

  /**
   * Revokes the grant of `token` at Rescind, as its client logging out
   * would (RFC 7009): for grants this server ends on its own, such as a
   * refresh token used twice (a stolen copy), so that Rescind, and the
   * resource servers asking it, stop accepting the grant's other tokens.
   */
  async revoke(token, clientId) {
    let response;
    try {
      response = await fetch(this.revocationEndpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token, client_id: clientId }),
        signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
      });
    } catch (error) {
      throw new RescindUnavailable(`Rescind's revocation endpoint cannot be reached: ${error.cause?.code ?? error.name}`);
    }
    if (response.status !== 200) throw new Error(`Rescind would not revoke the grant: ${response.status}`);
  }

  async call(method, path, body) {
    let response;
    try {
      response = await fetch(`${this.adminUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.adminToken}`,
          'content-type': 'application/json',
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
      });
    } catch (error) {
      // Refused connection, TLS failure, timeout: the message names no token.
      throw new RescindUnavailable(`Rescind's admin API cannot be reached: ${error.cause?.code ?? error.name}`);
    }
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  }

  /**
   * Registers `client` at Rescind unless it is there already. Public clients
   * revoke by `client_id` alone; a confidential one would get a secret from
   * Rescind (README "Admin API"), which this example has no use for.
   */
  async ensureClient({ clientId, name }) {
    const { status, body } = await this.call('POST', '/admin/clients', {
      client_id: clientId,
      kind: 'public',
      name,
    });
    if (status !== 201 && status !== 409) {
      throw new Error(`Rescind refused client ${clientId}: ${status} ${body?.error ?? ''}`);
    }
  }

  /**
   * Hands one issued token over: added to its grant at Rescind, the grant
   * registered first when this is its first token. Resolves only once Rescind
   * has stored it; rejects otherwise, and the caller must not hand the token
   * out.
   *
   * Stateless, so several instances of the authorisation server can share
   * the work: add to the grant; if Rescind does not know it (404), register
   * it with the token; if another instance registered it meanwhile (409),
   * add again. A revoked grant gets no tokens (409): a refresh after a
   * revocation fails here even before the revocation's webhook arrives.
   *
   * @param {{ grantId: string, clientId: string, subject: string, scope?: string,
   *           session?: string, token: { value: string, kind: 'access'|'refresh', expiresAt: Date } }} grant
   */
  async handOver(grant) {
    const id = rescindGrantId(grant.grantId);
    const tokens = [{
      token_hash: tokenHash(grant.token.value),
      kind: grant.token.kind,
      expires_at: grant.token.expiresAt.toISOString(),
    }];
    let added = await this.call('POST', `/admin/grants/${id}/tokens`, { tokens });
    if (added.status === 404) {
      const registration = {
        grant_id: id,
        client_id: grant.clientId,
        subject: grant.subject,
        ...(grant.scope ? { scope: grant.scope } : {}),
        // The OIDC session id (`sid`): a back-channel logout for that
        // session revokes this grant at Rescind.
        ...(grant.session ? { session_id: grant.session } : {}),
        tokens,
      };
      const registered = await this.call('POST', '/admin/grants', registration);
      if (registered.status === 201) return id;
      if (registered.status !== 409) throw refusal('register the grant', registered);
      added = await this.call('POST', `/admin/grants/${id}/tokens`, { tokens });
    }
    if (added.status !== 201) throw refusal('add the token', added);
    return id;
  }
}

function refusal(what, { status, body }) {
  // The error code and description only: Rescind's answers never echo a token.
  return new Error(`Rescind would not ${what}: ${status} ${body?.error ?? ''} ${body?.error_description ?? ''}`.trim());
}
