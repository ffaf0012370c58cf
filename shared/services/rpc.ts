/**
 * How one service calls another: a method name and a JSON-shaped request in, a response or an `RpcError` out,
 * whatever carries it (HTTP/JSON in http-rpc.ts; gRPC and NATS request-reply in lesson t4/02). The gateway, the
 * resilience policies (breaker, retries) and the lessons are written against `RpcClient`, so a transport or a policy
 * is swapped without touching the caller.
 *
 * Deadlines cross hops as a **remaining budget** in milliseconds (`deadlineMs` on the call, the `x-deadline-ms`
 * header on the wire), not as a wall-clock instant: two machines' clocks need not agree, and the callee answers
 * `DEADLINE_EXCEEDED` instead of working on a request nobody waits for any more.
 */
import { RagError } from '../errors.ts';

/** What went wrong, as a caller decides on it: retry, open a breaker, degrade, or pass a 4xx on. */
export type RpcCode =
  | 'UNAVAILABLE' // no connection, connection reset, the service is down or draining: retryable elsewhere
  | 'DEADLINE_EXCEEDED' // the budget ran out (on either side)
  | 'CANCELLED' // the caller aborted
  | 'UNAUTHENTICATED' // missing or wrong service credential
  | 'INVALID_ARGUMENT' // the request is bad: retrying cannot help
  | 'NOT_FOUND' // no such method or resource
  | 'OVERLOADED' // the callee shed the request (503 + Retry-After)
  | 'INTERNAL'; // the callee failed

/** Codes worth trying again (on the same or another instance), as gRPC's retry guidance has them. */
export const RETRYABLE: ReadonlySet<RpcCode> = new Set<RpcCode>(['UNAVAILABLE', 'OVERLOADED']);

export class RpcError extends RagError {
  declare readonly code: RpcCode;

  constructor(
    code: RpcCode,
    message: string,
    /** Where the call went (a URL or a subject), for messages and logs. */
    readonly target = '',
    /** The callee's Retry-After, in ms, when it shed the request. */
    readonly retryAfterMs?: number,
  ) {
    super(code, message);
    this.name = 'RpcError';
  }

  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }
}

export function isRpcError(err: unknown, code?: RpcCode): err is RpcError {
  return err instanceof RpcError && (code === undefined || err.code === code);
}

export interface CallOptions {
  /** Aborts the call (it rejects with `CANCELLED`, or `DEADLINE_EXCEEDED` when the signal's reason is a TimeoutError). */
  signal?: AbortSignal;
  /** The remaining budget for this call in ms; sent to the callee, which gives up when it runs out. */
  deadlineMs?: number;
}

export interface RpcClient {
  /** Where calls go: a base URL, an address list or a subject. */
  readonly target: string;
  call<Res = unknown>(method: string, req: unknown, opts?: CallOptions): Promise<Res>;
  close(): Promise<void>;
}

/** What a callee sees besides the request: its own abort signal (client gone or budget spent) and the budget left. */
export interface CallContext {
  signal: AbortSignal;
  /** Milliseconds left when the request arrived (undefined: the caller set none). */
  deadlineMs?: number;
}

/** A service's methods. Throw an `RpcError` (or a RagError 'INVALID_INPUT' / 'NOT_FOUND') to answer an error. */
export type RpcHandler = (method: string, req: unknown, ctx: CallContext) => Promise<unknown>;

/** The header that carries the service credential between services (a shared secret; see http-rpc.ts). */
export const TOKEN_HEADER = 'x-internal-token';
/** The header that carries the remaining deadline budget in ms. */
export const DEADLINE_HEADER = 'x-deadline-ms';

/** An RpcError for anything a handler threw: RpcErrors pass as they are, RagErrors keep their meaning. */
export function toRpcError(err: unknown, target = ''): RpcError {
  if (err instanceof RpcError) return err;
  if (err instanceof RagError) {
    if (err.code === 'INVALID_INPUT') return new RpcError('INVALID_ARGUMENT', err.message, target);
    if (err.code === 'NOT_FOUND') return new RpcError('NOT_FOUND', err.message, target);
    if (err.code === 'OVERLOADED') return new RpcError('OVERLOADED', err.message, target);
    if (err.code === 'DEADLINE_EXCEEDED') return new RpcError('DEADLINE_EXCEEDED', err.message, target);
  }
  if (err instanceof Error && (err.name === 'TimeoutError' || (err.name === 'AbortError' && /timeout/i.test(err.message)))) {
    return new RpcError('DEADLINE_EXCEEDED', err.message, target);
  }
  if (err instanceof Error && err.name === 'AbortError') return new RpcError('CANCELLED', err.message, target);
  return new RpcError('INTERNAL', err instanceof Error ? err.message : String(err), target);
}
