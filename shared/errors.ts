/**
 * The one error type the RAG engine throws for problems a caller can act on. `code` is stable and machine-readable;
 * `message` names the input at fault (file and line, document index, label).
 *
 * Codes in use: 'INVALID_INPUT' (bad argument or document), 'NOT_FOUND' (missing file, directory, id), 'CORRUPT'
 * (a file or saved index that does not parse), plus stage-specific ones such as 'LLM_TIMEOUT'.
 */
export class RagError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'RagError';
    this.code = code;
  }
}

/** True when `err` is a RagError, optionally with the given code. */
export function isRagError(err: unknown, code?: string): err is RagError {
  return err instanceof RagError && (code === undefined || err.code === code);
}
