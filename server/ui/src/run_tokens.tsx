/** The Run detail screen's tokens: pending ones with their callback URLs, and what settled them. */
import type { TokenInfo } from "@kagzi/sdk/client";
import { formatTime, shortId } from "./format.ts";

/** The tokens the run made (`ctx.token`), oldest first. */
export function Tokens(props: { tokens: TokenInfo[] }) {
  return (
    <section aria-labelledby="tokens-title">
      <h2 id="tokens-title">Tokens</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Token</th>
            <th scope="col">Status</th>
            <th scope="col">Times out</th>
            <th scope="col">Settled</th>
            <th scope="col">Value or URL</th>
          </tr>
        </thead>
        <tbody>
          {props.tokens.map((t) => (
            <tr key={t.id}>
              <td>{t.name}</td>
              <td class="mono" title={t.id}>{shortId(t.id)}</td>
              <td>
                <span class={`status status-${t.status.toLowerCase()}`}>
                  {t.status.toLowerCase()}
                </span>
              </td>
              <td>{t.timeoutAt ? formatTime(t.timeoutAt) : <span class="subtle">never</span>}</td>
              <td>{t.completedAt ? formatTime(t.completedAt) : ""}</td>
              <td class="mono wrap">
                {t.status === "PENDING"
                  ? (
                    <a href={t.url} title="POST a JSON body to this URL to complete the token">
                      {t.url}
                    </a>
                  )
                  : t.status === "COMPLETED"
                  ? (t.value === undefined ? "" : JSON.stringify(t.value))
                  : t.error?.message ?? ""}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
