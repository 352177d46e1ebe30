/**
 * The check of a payload that says it is JSON (`metadata.encoding: "json"`): its data must be
 * UTF-8 JSON text, so that a malformed payload is refused at the door instead of failing later
 * on a worker or a client that decodes it.
 */

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** Why `data` is not JSON text, or undefined when it is (empty data means no value). */
export function jsonProblem(data: Uint8Array): string | undefined {
  if (data.byteLength === 0) return undefined;
  let text: string;
  try {
    text = utf8.decode(data);
  } catch {
    return "it is not valid UTF-8";
  }
  try {
    JSON.parse(text);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
