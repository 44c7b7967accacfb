// node-oidc-provider's storage adapter, in memory, handing every access and
// refresh token to Rescind before it is stored here.
//
// Why the adapter and not the provider's events: `upsert` is awaited by the
// provider before a token reaches the token response (`await at.save()`,
// then `await rt.save()`), so a hand-over that fails fails the token request
// and the client gets `server_error`, never a token Rescind does not know.
// Events (`access_token.saved`, `refresh_token.saved`) are emitted after the
// save and nobody awaits their listeners: a failed hand-over there would be
// lost while the token went out.
//
// A real deployment keeps the same shape over its database: call Rescind
// first, then write locally (a token Rescind knows but the server never
// handed out is harmless: nobody holds it).

/** The models whose tokens Rescind must know, and the kind it calls them. */
const HANDED_OVER = { AccessToken: 'access', RefreshToken: 'refresh' };

/**
 * @param {import('./rescind.js').Rescind} rescind
 * @returns {{ Adapter: Function, grants: Map<string, string>, revokeGrant: (grantId: string) => void }}
 */
export function rescindAdapter(rescind) {
  /** model name → id → { payload, expiresAt } */
  const models = new Map();
  /** Rescind's grant id → this server's grant id, for the revocation webhook. */
  const grants = new Map();

  const storeOf = (name) => {
    if (!models.has(name)) models.set(name, new Map());
    return models.get(name);
  };

  const live = (entry) => entry && (entry.expiresAt === undefined || entry.expiresAt > Date.now());

  /** Every record of a grant, whatever its model: what a revocation at Rescind ends here. */
  const revokeGrant = (grantId) => {
    for (const [name, store] of models) {
      for (const [id, entry] of store) {
        if (entry.payload.grantId === grantId || (name === 'Grant' && id === grantId)) store.delete(id);
      }
    }
  };

  class Adapter {
    constructor(name) {
      this.name = name;
      this.store = storeOf(name);
    }

    async upsert(id, payload, expiresIn) {
      const kind = HANDED_OVER[this.name];
      // An update of a token already stored (and so already handed over) is not a new token.
      if (kind && !this.store.has(id)) {
        const rescindId = await rescind.handOver({
          grantId: payload.grantId,
          clientId: payload.clientId,
          subject: payload.accountId,
          scope: payload.scope || undefined,
          session: payload.sid,
          token: { value: id, kind, expiresAt: new Date(payload.exp * 1000) },
        });
        grants.set(rescindId, payload.grantId);
      }
      this.store.set(id, {
        payload,
        expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : undefined,
      });
    }

    async find(id) {
      const entry = this.store.get(id);
      return live(entry) ? entry.payload : undefined;
    }

    async findByUid(uid) {
      for (const entry of this.store.values()) {
        if (entry.payload.uid === uid && live(entry)) return entry.payload;
      }
      return undefined;
    }

    async findByUserCode(userCode) {
      for (const entry of this.store.values()) {
        if (entry.payload.userCode === userCode && live(entry)) return entry.payload;
      }
      return undefined;
    }

    async consume(id) {
      const entry = this.store.get(id);
      if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id) {
      this.store.delete(id);
    }

    /**
     * The provider ends a grant on its own (a refresh token or code used
     * twice, logout): called on each model's adapter. Rescind is told with
     * one of the grant's tokens, which revokes the whole grant there.
     */
    async revokeByGrantId(grantId) {
      let presented;
      for (const [id, entry] of this.store) {
        if (entry.payload.grantId !== grantId) continue;
        presented ??= { token: id, clientId: entry.payload.clientId };
        this.store.delete(id);
      }
      if (presented && HANDED_OVER[this.name]) await rescind.revoke(presented.token, presented.clientId);
    }
  }

  return { Adapter, grants, revokeGrant };
}
