/**
 * Signed token URLs: `{base}/v1/tokens/{namespace}/{tokenId}?sig={secretId}.{hmac}` where the
 * HMAC-SHA256 covers the namespace and the token id under a server secret kept in the database
 * (`store/token_secrets.ts`). The newest secret in the database signs every URL handed out;
 * every kept secret verifies, so a plain rotation never breaks a URL already handed out. A
 * rotation that retires the older secrets deletes them, and every replica refuses their URLs at
 * once: a URL whose MAC matches is accepted only when the database confirms its secret still
 * exists, and the completion checks again, holding a lock on that row, in its own transaction
 * (`token_service.ts`). Verification is constant-time (WebCrypto's verify).
 */
import type { StepRecord } from "@kagzi/proto";
import { ConflictError, UnauthorizedError } from "../errors.ts";
import type { Db } from "../store/db.ts";
import { addSecret, loadSecrets, newestSecretId, secretExists } from "../store/token_secrets.ts";

/** The path every token URL starts with. */
export const tokenPathPrefix = "/v1/tokens/";

/**
 * How long loaded secrets are trusted before another replica's rotation is looked for, where a
 * call does not look itself (URLs handed out and verified look every time).
 */
const reloadMs = 60_000;

const encoder = new TextEncoder();

/**
 * The one refusal of a URL whose signature does not hold: missing, forged, or signed with a
 * retired secret all read the same (401 unauthenticated).
 */
export function signatureRefused(op: string, tokenId: string): UnauthorizedError {
  return new UnauthorizedError(
    `Cannot ${op}: the URL's signature ("sig") is missing or does not match token ` +
      `"${tokenId}"; use the URL the run handed out (t.url)`,
  );
}

const b64url = (bytes: ArrayBuffer): string =>
  btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

function fromB64url(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(text)) return undefined;
  try {
    const bin = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

const message = (namespace: string, tokenId: string) =>
  encoder.encode(`kagzi-token\n${namespace}\n${tokenId}`);

const fresh = () => crypto.getRandomValues(new Uint8Array(32));

/** Signs and verifies token URLs with the secrets of the database. */
export class TokenSigner {
  #keys = new Map<number, CryptoKey>();
  #newest = 0;
  #loadedAt = -Infinity;
  #loading: Promise<void> | undefined;

  constructor(
    private readonly db: Db,
    /** The public base URL (`--public-url`); empty: the origin of the request. */
    private readonly publicUrl: string,
  ) {}

  async #load(force: boolean): Promise<void> {
    if (!force && performance.now() - this.#loadedAt < reloadMs && this.#keys.size) return;
    this.#loading ??= (async () => {
      try {
        let rows = await loadSecrets(this.db, fresh());
        // Another replica made the first secret at the same moment (our insert met its row,
        // which our statement could not see): it has committed, so read again.
        if (!rows.length) rows = await loadSecrets(this.db, fresh());
        const keys = new Map<number, CryptoKey>();
        for (const r of rows) {
          keys.set(
            r.secret_id,
            await crypto.subtle.importKey(
              "raw",
              r.secret as Uint8Array<ArrayBuffer>,
              { name: "HMAC", hash: "SHA-256" },
              false,
              ["sign", "verify"],
            ),
          );
        }
        this.#keys = keys;
        this.#newest = rows[0].secret_id;
        this.#loadedAt = performance.now();
      } finally {
        this.#loading = undefined;
      }
    })();
    await this.#loading;
  }

  /** The base URL of token links for a request that arrived at `requestUrl`. */
  base(requestUrl: string): string {
    if (this.publicUrl) return this.publicUrl.replace(/\/+$/, "");
    try {
      return new URL(requestUrl).origin;
    } catch {
      return "";
    }
  }

  /** The signed URL of token `tokenId` of `namespace`. */
  async url(base: string, namespace: string, tokenId: string): Promise<string> {
    await this.#load(false);
    const key = this.#keys.get(this.#newest)!;
    const mac = await crypto.subtle.sign("HMAC", key, message(namespace, tokenId));
    return `${base}${tokenPathPrefix}${encodeURIComponent(namespace)}/${tokenId}` +
      `?sig=${this.#newest}.${b64url(mac)}`;
  }

  /**
   * The id of the secret that `sig` (`{secretId}.{hmac}`) signs token `tokenId` of `namespace`
   * with, once the database confirms that secret still exists; undefined when it does not sign
   * it (forged, or signed with a retired secret).
   */
  async verify(namespace: string, tokenId: string, sig: string): Promise<number | undefined> {
    const m = /^(\d{1,9})\.(.+)$/.exec(sig);
    const mac = m && fromB64url(m[2]);
    if (!m || !mac) return undefined;
    const id = Number(m[1]);
    await this.#load(false);
    // A secret made by another replica's rotation since the last load (looked for at most once
    // a second, so forged ids cannot make every request read the table).
    const stale = performance.now() - this.#loadedAt > 1_000;
    if (!this.#keys.has(id) && id > this.#newest && stale) await this.#load(true);
    const key = this.#keys.get(id);
    if (!key) return undefined;
    const good = await crypto.subtle.verify(
      "HMAC",
      key,
      mac as Uint8Array<ArrayBuffer>,
      message(namespace, tokenId),
    );
    if (!good) return undefined;
    // Another replica may have retired it: only a matching MAC (someone holds the secret) costs
    // this read. Gone: load again before the next URL is signed or verified.
    if (await secretExists(this.db, id)) return id;
    this.#loadedAt = -Infinity;
    return undefined;
  }

  /**
   * Loads the secrets again when the database's newest is not the one signing here (another
   * replica rotated), so the next URLs are signed with it; one indexed read.
   */
  async refresh(): Promise<void> {
    await this.#load(false);
    if ((await newestSecretId(this.db)) !== this.#newest) await this.#load(true);
  }

  /**
   * Sets the signed URL of every TOKEN record among `records`, signed with the database's newest
   * secret (a no-op, reading nothing, when there is none).
   */
  async fillUrls(requestUrl: string, namespace: string, records: StepRecord[]): Promise<void> {
    if (!records.some((r) => r.tokenId)) return;
    await this.refresh();
    for (const r of records) {
      if (r.tokenId) r.tokenUrl = await this.url(this.base(requestUrl), namespace, r.tokenId);
    }
  }

  /**
   * Adds a new newest secret; its id, and how many older secrets were deleted. Without
   * `retireOlder` URLs signed before stay valid; with it, the same statement deletes every
   * older secret, and every replica refuses their URLs from then on.
   */
  async rotate(retireOlder: boolean): Promise<{ secretId: number; retired: number }> {
    for (let i = 0;; i++) {
      await this.#load(true);
      const added = await addSecret(this.db, fresh(), retireOlder);
      if (!added && i >= 4 && retireOlder) {
        // A retire must not come back having retired nothing: say so, and the caller tries again.
        throw new ConflictError(
          "retireOlder",
          "",
          "Cannot rotate the token secret: other rotations ran at the same moment five times " +
            "over; nothing was retired, try again",
        );
      }
      if (added || i >= 4) {
        await this.#load(true);
        return { secretId: added?.secret_id ?? this.#newest, retired: added?.retired ?? 0 };
      }
    }
  }
}
