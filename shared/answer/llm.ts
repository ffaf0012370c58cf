import { RagError } from '../errors.ts';
import type { AnswerSourceHit } from './extractive.ts';

/**
 * An OpenAI-compatible chat-completions client with streaming and a deadline. It is only ever constructed when
 * `LLM_BASE_URL` (or `config.baseUrl`) is set: without it, nothing in the engine touches the network.
 */
export interface LlmConfig {
  /** e.g. http://127.0.0.1:11434/v1 (anything serving POST {baseUrl}/chat/completions). */
  baseUrl: string;
  /** Model name sent in the request. Default: env LLM_MODEL, else 'default'. */
  model?: string;
  /** Bearer token. Default: env LLM_API_KEY (no header when unset). */
  apiKey?: string;
  /** Whole-request deadline in ms, first byte to last token. Default 20000. */
  timeoutMs?: number;
  /** Sampling temperature. Default 0. */
  temperature?: number;
  /** Cap on generated tokens. Default 512. */
  maxTokens?: number;
}

/** Reads LlmConfig from LLM_BASE_URL / LLM_MODEL / LLM_API_KEY / LLM_TIMEOUT_MS, or undefined when unset. */
export function llmConfigFromEnv(env: NodeJS.ProcessEnv = process.env): LlmConfig | undefined {
  const baseUrl = env.LLM_BASE_URL?.trim();
  if (!baseUrl) return undefined;
  const timeout = env.LLM_TIMEOUT_MS ? Number(env.LLM_TIMEOUT_MS) : undefined;
  if (timeout !== undefined && !(timeout > 0)) {
    throw new RagError('INVALID_INPUT', `LLM_TIMEOUT_MS must be a positive number of ms, got "${env.LLM_TIMEOUT_MS}"`);
  }
  return { baseUrl, model: env.LLM_MODEL, apiKey: env.LLM_API_KEY, timeoutMs: timeout };
}

/** The prompt: numbered context passages, and the instruction to answer from them alone and cite [n]. */
export function buildMessages(query: string, hits: AnswerSourceHit[]): { role: string; content: string }[] {
  const context = hits.map((h, i) => `[${i + 1}] (${h.docId}) ${h.text}`).join('\n\n');
  return [
    {
      role: 'system',
      content:
        'Answer the question using only the numbered context passages. Cite the passages you use as [n]. ' +
        'If the context does not contain the answer, say so.',
    },
    { role: 'user', content: `Context:\n${context}\n\nQuestion: ${query}` },
  ];
}

/**
 * Streams the answer's text pieces as the server sends them (server-sent events, `data: {...}` lines,
 * ending with `data: [DONE]`). Throws RagError('LLM_TIMEOUT') past the deadline and RagError('LLM_ERROR') on an
 * HTTP error or a malformed stream.
 */
export async function* streamChat(
  config: LlmConfig,
  query: string,
  hits: AnswerSourceHit[],
  signal?: AbortSignal,
): AsyncGenerator<string> {
  const timeoutMs = config.timeoutMs ?? 20_000;
  const deadline = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream' };
  const apiKey = config.apiKey ?? process.env.LLM_API_KEY;
  if (apiKey) headers.authorization = `Bearer ${apiKey}`;
  const url = `${config.baseUrl.replace(/\/+$/, '')}/chat/completions`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers,
      signal: combined,
      body: JSON.stringify({
        model: config.model ?? process.env.LLM_MODEL ?? 'default',
        messages: buildMessages(query, hits),
        stream: true,
        temperature: config.temperature ?? 0,
        max_tokens: config.maxTokens ?? 512,
      }),
    });
  } catch (err) {
    throw toLlmError(err, deadline, timeoutMs, url);
  }
  if (!res.ok || !res.body) {
    const body = await res.text().catch(() => '');
    throw new RagError('LLM_ERROR', `LLM server answered ${res.status} at ${url}: ${body.slice(0, 200)}`);
  }
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const part of res.body) {
      buffer += decoder.decode(part as Uint8Array, { stream: true });
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (!line.startsWith('data:')) continue;
        const data = line.slice(5).trim();
        if (data === '[DONE]') return;
        let event: { choices?: { delta?: { content?: string } }[] };
        try {
          event = JSON.parse(data);
        } catch {
          throw new RagError('LLM_ERROR', `LLM stream sent a line that is not JSON: ${data.slice(0, 100)}`);
        }
        const piece = event.choices?.[0]?.delta?.content;
        if (piece) yield piece;
      }
    }
  } catch (err) {
    throw toLlmError(err, deadline, timeoutMs, url);
  }
}

/** Collects the whole streamed answer. */
export async function completeChat(config: LlmConfig, query: string, hits: AnswerSourceHit[]): Promise<string> {
  let text = '';
  for await (const piece of streamChat(config, query, hits)) text += piece;
  return text;
}

function toLlmError(err: unknown, deadline: AbortSignal, timeoutMs: number, url: string): RagError {
  if (err instanceof RagError) return err;
  if (deadline.aborted) return new RagError('LLM_TIMEOUT', `LLM did not finish within ${timeoutMs} ms (${url})`);
  return new RagError('LLM_ERROR', `LLM request to ${url} failed: ${(err as Error).message}`);
}
