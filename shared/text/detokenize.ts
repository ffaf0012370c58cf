/**
 * Joins word and punctuation tokens into readable text: no space before `, . ; : ! ? ) ] %` and closing quotes,
 * none after `( [ $` and opening quotes; Penn/Brown quote tokens `` and '' become ". A `"` token alternates between
 * opening and closing.
 */
const NO_SPACE_BEFORE = new Set([',', '.', ';', ':', '!', '?', ')', ']', '}', '%', "''", "'", '”', '’', "n't", "'s"]);
const NO_SPACE_AFTER = new Set(['(', '[', '{', '$', '``', '“', '‘']);

export function detokenize(tokens: readonly string[]): string {
  let out = '';
  let glue = true; // no space before the next token
  let open = false; // inside a "…" opened by a plain " token
  for (const raw of tokens) {
    if (raw.length === 0) continue;
    const tok = raw === '``' || raw === "''" ? '"' : raw;
    let before = !NO_SPACE_BEFORE.has(raw);
    let after = !NO_SPACE_AFTER.has(raw);
    if (raw === '"') {
      before = !open;
      after = open;
      open = !open;
    } else if (raw === '``') {
      open = true;
    } else if (raw === "''") {
      open = false;
    }
    if (!glue && before) out += ' ';
    out += tok;
    glue = !after;
  }
  return out;
}
