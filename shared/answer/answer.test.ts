import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAnalyzer } from '../text/analyzer.ts';
import { extractiveAnswer } from './extractive.ts';
import { completeChat, llmConfigFromEnv, streamChat } from './llm.ts';

const analyzer = createAnalyzer();
const hits = [
  { docId: 'd1', chunkId: 'c1', text: 'The jury met on Friday. It praised the election officials for their work.' },
  { docId: 'd2', chunkId: 'c2', text: 'Wind tunnels measure lift. The election of a mayor was held in Atlanta.' },
];

describe('extractive answer', () => {
  it('picks the sentences that cover the query terms and cites their chunks', () => {
    const a = extractiveAnswer('election officials', hits, analyzer);
    expect(a.source).toBe('extractive');
    expect(a.sentences[0].text).toBe('It praised the election officials for their work.');
    expect(a.sentences[0].chunkId).toBe('c1');
    expect(a.text).toContain('[1]');
    expect(a.citations[0]).toEqual({ docId: 'd1', chunkId: 'c1' });
    expect(a.sentences.every((s) => s.text !== 'Wind tunnels measure lift.')).toBe(true);
  });
  it('is empty, not wrong, when nothing matches', () => {
    const a = extractiveAnswer('quantum chromodynamics', hits, analyzer);
    expect(a.text).toBe('');
    expect(a.citations).toEqual([]);
  });
  it('weights rarer terms higher', () => {
    const a = extractiveAnswer('jury election', hits, analyzer, (t) => (t === 'juri' ? 10 : 1), { maxSentences: 1 });
    expect(a.sentences[0].text).toBe('The jury met on Friday.');
  });
});

describe('OpenAI-compatible chat client', () => {
  let server: Server;
  let baseUrl: string;
  let lastBody: any;
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        lastBody = JSON.parse(body);
        if (req.url === '/slow/chat/completions') {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: 'late' } }] })}\n\n`);
          return; // never ends
        }
        if (req.url === '/broken/chat/completions') {
          res.writeHead(500).end('model not loaded');
          return;
        }
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        for (const piece of ['The jury ', 'praised ', 'officials [1].']) {
          res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: piece } }] })}\n\n`);
        }
        res.end('data: [DONE]\n\n');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it('streams pieces and sends the retrieved context', async () => {
    const pieces: string[] = [];
    for await (const p of streamChat({ baseUrl, model: 'm' }, 'who praised?', hits)) pieces.push(p);
    expect(pieces).toEqual(['The jury ', 'praised ', 'officials [1].']);
    expect(lastBody.stream).toBe(true);
    expect(lastBody.model).toBe('m');
    expect(lastBody.messages[1].content).toContain('[1] (d1) The jury met on Friday.');
  });
  it('times out with a clear error', async () => {
    await expect(completeChat({ baseUrl: `${baseUrl}/slow`, timeoutMs: 200 }, 'q', hits)).rejects.toThrow(
      /did not finish within 200 ms/,
    );
  });
  it('reports HTTP errors with the status', async () => {
    await expect(completeChat({ baseUrl: `${baseUrl}/broken` }, 'q', hits)).rejects.toThrow(/answered 500/);
  });
  it('is configured only when LLM_BASE_URL is set', () => {
    expect(llmConfigFromEnv({})).toBeUndefined();
    expect(llmConfigFromEnv({ LLM_BASE_URL: 'http://x/v1', LLM_MODEL: 'm' })).toMatchObject({ baseUrl: 'http://x/v1', model: 'm' });
    expect(() => llmConfigFromEnv({ LLM_BASE_URL: 'http://x', LLM_TIMEOUT_MS: 'soon' })).toThrow(/LLM_TIMEOUT_MS/);
  });
});
