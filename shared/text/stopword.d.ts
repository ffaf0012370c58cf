// Types for the `stopword` package (it ships none). Only what the engine uses; add languages as needed.
declare module 'stopword' {
  /** English stop words (lower case). */
  export const eng: string[];
  /** Returns `tokens` without the words in `stopwords` (default: English). */
  export function removeStopwords(tokens: string[], stopwords?: string[]): string[];
}
