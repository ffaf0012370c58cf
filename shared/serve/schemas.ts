/**
 * JSON schemas of the HTTP API. Fastify validates request bodies with them (Ajv, no coercion, unknown fields
 * rejected) and compiles the response schemas into fast serializers (fast-json-stringify); @fastify/swagger turns
 * them into the OpenAPI description served at GET /openapi.json.
 */
import { RETRIEVAL_MODES } from '../engine.ts';

/** Service limits (the engine's own limits are wider). The id rule is in ids.ts. */
export const API_LIMITS = {
  maxQueryChars: 4096,
  maxK: 100,
  maxDocsPerRequest: 1000,
  /** Longest id, in characters (code points), on every route. */
  maxIdChars: 512,
  /** Longest id in a URL path, percent-encoded: 512 characters of 4 UTF-8 bytes each, 3 characters per byte. */
  maxEncodedIdChars: 512 * 4 * 3,
  maxDeleteIds: 1000,
} as const;

const metaValue = { type: ['string', 'number', 'boolean'] } as const;

/**
 * Keys no metadata object or filter may have: harmless to the engine today (they are own properties of parsed JSON),
 * but a trap for any code that indexes a plain object by them. `__proto__` never gets this far: the JSON parser
 * refuses it (and `constructor.prototype`) anywhere in a body.
 */
export const FORBIDDEN_KEYS = ['__proto__', 'constructor', 'prototype'] as const;
const safeKeys = { propertyNames: { not: { enum: [...FORBIDDEN_KEYS] } } } as const;

const idSchema = {
  type: 'string',
  minLength: 1,
  maxLength: API_LIMITS.maxIdChars,
  description: `1–${API_LIMITS.maxIdChars} characters of valid Unicode, no control characters; unique within a request`,
} as const;

export const errorSchema = {
  $id: 'Error',
  type: 'object',
  properties: {
    statusCode: { type: 'integer' },
    error: { type: 'string' },
    message: { type: 'string', description: 'What was wrong; names the field for validation errors' },
  },
} as const;

export const queryBody = {
  type: 'object',
  required: ['query'],
  additionalProperties: false,
  properties: {
    query: { type: 'string', minLength: 1, maxLength: API_LIMITS.maxQueryChars, description: 'The question or keywords' },
    k: { type: 'integer', minimum: 1, maximum: API_LIMITS.maxK, description: 'Number of hits. Default 10' },
    mode: { type: 'string', enum: [...RETRIEVAL_MODES], description: "Retrieval mode. Default 'hybrid'" },
    filter: {
      type: 'object',
      description: 'Metadata filter: every key must match; an array matches any of its values. Key docId tests the document id',
      ...safeKeys,
      additionalProperties: { anyOf: [metaValue, { type: 'array', minItems: 1, items: metaValue }] },
    },
    answer: { type: 'boolean', description: 'Build a cited answer from the hits. Default true' },
  },
} as const;

const citation = {
  type: 'object',
  properties: { docId: { type: 'string' }, chunkId: { type: 'string' } },
} as const;

export const queryResponse = {
  type: 'object',
  properties: {
    hits: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          rank: { type: 'integer' },
          chunkId: { type: 'string' },
          docId: { type: 'string' },
          score: { type: 'number' },
          scores: { type: 'object', properties: { bm25: { type: 'number' }, dense: { type: 'number' } } },
          title: { type: 'string' },
          text: { type: 'string' },
          position: { type: 'integer' },
          metadata: { type: 'object', additionalProperties: metaValue },
        },
      },
    },
    answer: {
      type: 'object',
      properties: {
        text: { type: 'string' },
        citations: { type: 'array', items: citation },
        sentences: {
          type: 'array',
          items: {
            type: 'object',
            properties: { docId: { type: 'string' }, chunkId: { type: 'string' }, text: { type: 'string' }, score: { type: 'number' } },
          },
        },
        source: { type: 'string' },
        fallbackReason: { type: 'string' },
      },
    },
    timings: {
      type: 'object',
      description: 'Engine milliseconds per stage (of the computation that produced the response, when it was cached)',
      properties: {
        analyze: { type: 'number' },
        bm25: { type: 'number' },
        embed: { type: 'number' },
        dense: { type: 'number' },
        fuse: { type: 'number' },
        answer: { type: 'number' },
        total: { type: 'number' },
      },
    },
    version: { type: 'integer', description: 'Index version the answer was computed on' },
  },
} as const;

export const docSchema = {
  type: 'object',
  required: ['id', 'text'],
  additionalProperties: false,
  properties: {
    id: idSchema,
    text: { type: 'string' },
    title: { type: 'string' },
    metadata: { type: 'object', ...safeKeys, additionalProperties: metaValue },
  },
} as const;

export const ingestBody = {
  type: 'object',
  required: ['documents'],
  additionalProperties: false,
  properties: {
    documents: { type: 'array', minItems: 1, maxItems: API_LIMITS.maxDocsPerRequest, items: docSchema },
  },
} as const;

export const writeResponse = {
  type: 'object',
  properties: {
    version: { type: 'integer', description: 'Index version after the write; every later query sees it' },
    documents: { type: 'integer' },
    chunks: { type: 'integer' },
    replaced: { type: 'integer' },
    removed: { type: 'integer' },
    unchanged: {
      type: 'integer',
      description: 'Documents sent exactly as the index already holds them (same id, title, text, metadata): not re-indexed',
    },
  },
} as const;

export const deleteParams = {
  type: 'object',
  required: ['id'],
  properties: { id: idSchema },
} as const;

export const deleteBody = {
  type: 'object',
  required: ['ids'],
  additionalProperties: false,
  properties: {
    ids: { type: 'array', minItems: 1, maxItems: API_LIMITS.maxDeleteIds, items: idSchema },
  },
} as const;

export const whoamiResponse = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    scopes: { type: 'array', items: { type: 'string' } },
  },
} as const;

export const healthResponse = {
  type: 'object',
  properties: {
    status: { type: 'string' },
    version: { type: 'integer' },
    documents: { type: 'integer' },
    chunks: { type: 'integer' },
  },
} as const;

/** Error responses every /v1 route may give. */
export const commonErrors = {
  400: { $ref: 'Error#' },
  401: { $ref: 'Error#' },
  413: { $ref: 'Error#' },
  429: { $ref: 'Error#' },
  503: { $ref: 'Error#' },
  504: { $ref: 'Error#' },
} as const;

/** Error responses of the routes that need a scope. */
export const keyedErrors = {
  ...commonErrors,
  403: { $ref: 'Error#' },
} as const;

/** POST /v1/admin/reload: the saved index to serve from now on (a folder on the server); none = the configured one. */
export const reloadBody = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    index: {
      type: 'string',
      minLength: 1,
      maxLength: 4096,
      description: 'a folder on the server holding a saved index (npm run index -- --out <dir>); default: the --index the service started with',
    },
  },
} as const;

/** POST /v1/admin/model: the model folder to swap in (same model: a new quantization or export); none = the configured one. */
export const modelSwapBody = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    model: {
      type: 'string',
      minLength: 1,
      maxLength: 4096,
      description: 'a folder on the server with model.onnx and tokenizer.json; default: the --model the service started with (e.g. rewritten in place)',
    },
  },
} as const;

export const modelSwapResponse = {
  type: 'object',
  properties: {
    model: { type: 'string', description: 'The folder loaded' },
    from: { type: 'string', description: 'The version replaced (first 12 hex digits of its model.onnx SHA-256)' },
    to: { type: 'string', description: 'The version serving now' },
    loadMs: { type: 'number' },
    warmMs: { type: 'number' },
  },
} as const;

export const reloadResponse = {
  type: 'object',
  properties: {
    version: { type: 'integer', description: 'The reload\'s index version: every answer at this version or later comes from the new index' },
    index: { type: 'string', description: 'The folder asked for' },
    dir: { type: 'string', description: 'The copy the service loads (in its data directory)' },
    from: { type: 'integer', description: 'Writes numbered after this version were applied on top of the new index' },
    documents: { type: 'integer' },
    chunks: { type: 'integer' },
    replicas: {
      type: 'array',
      items: {
        type: 'object',
        properties: { replica: { type: 'string' }, ms: { type: 'number' }, replayed: { type: 'integer' }, maxDelayMs: { type: 'number' } },
      },
    },
    ms: {
      type: 'object',
      properties: { copy: { type: 'number' }, stage: { type: 'number' }, swap: { type: 'number' }, total: { type: 'number' } },
    },
  },
} as const;

/** GET /v1/documents/:id/versions/:v and POST …/rollback: a service version (digits in the URL). */
export const versionParams = {
  type: 'object',
  required: ['id', 'v'],
  properties: {
    id: idSchema,
    v: { type: 'string', pattern: '^(0|[1-9][0-9]{0,14})$', description: 'A service version (as a write answered it)' },
  },
} as const;

export const versionListResponse = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    versions: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          version: { type: 'integer', description: 'The service version of the write' },
          at: { type: 'string', description: 'When the history recorded it (ISO 8601)' },
          kind: { type: 'string', enum: ['ingest', 'delete'] },
          bytes: { type: 'integer', description: 'Bytes the history holds for this version of the document' },
        },
      },
    },
  },
} as const;

export const versionResponse = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    version: { type: 'integer', description: 'The write that left the document so (at or before asOf)' },
    asOf: { type: 'integer', description: 'The version asked for' },
    at: { type: 'string' },
    text: { type: 'string' },
    title: { type: 'string' },
    metadata: { type: 'object', additionalProperties: metaValue },
  },
} as const;

export const rollbackBody = {
  type: 'object',
  required: ['version'],
  additionalProperties: false,
  properties: {
    version: { type: 'integer', minimum: 0, description: 'The service version whose state of the document is written again' },
  },
} as const;

export const rollbackResponse = {
  type: 'object',
  properties: {
    ...writeResponse.properties,
    to: { type: 'integer', description: 'The version of the write whose state was restored (at or before the one asked for)' },
    restored: { type: 'string', enum: ['ingest', 'delete'], description: 'ingest: the old text is indexed again; delete: it was deleted then, so now too' },
  },
} as const;
