/**
 * Exercise (t4 lesson 10): write the engine's Dockerfile.
 *
 * `dockerfile(spec)` returns the text of a Dockerfile that builds one image for every service (the entrypoint is
 * shared/deploy/entrypoint.ts, compiled to /app/shared/deploy/entrypoint.js by shared/deploy/compile.ts). The
 * checkpoint (`npm run checkpoint -- 10-docker-images`) reads it without building it and holds it to these rules:
 *
 * 1. A one-line change in shared/engine.ts does not re-run `npm ci` (the layer cache, simulated step by step).
 * 2. No devDependency reaches the runtime image: not through a COPY of node_modules that `npm ci` filled with them,
 *    not through the host's node_modules, not through tsx at start. (compile.ts writes /out/app and a
 *    /out/node_modules of only what the services import.)
 * 3. The runtime runs as the non-root user, by its numeric uid (`spec.user`).
 * 4. A HEALTHCHECK asks /healthz (the runtime base has no curl and no shell: `HEALTHCHECK_JS` in spec.ts is a node
 *    one-liner that does).
 * 5. No secret in any layer (ENV/ARG named *TOKEN*, *SECRET*, *KEY*..., or .npmrc/.env copied into the runtime).
 * 6. Read-only-safe: the runtime stage is FROM `spec.base` (node only), has no RUN, and carries the GloVe cache made at
 *    build time (`shared/deploy/warm-vectors.ts <dir>` writes it; it reads only `spec.vectorsInputs`).
 *
 * Then build it for real: `npm run t4 -- --only 10-docker-images --impl exercise` builds your Dockerfile beside the
 * naive and the multi-stage ones and compares their sizes. Hints: `npm run hint -- 10-docker-images`.
 */
import { HEALTHCHECK_JS, SPEC, type ImageSpec } from './spec.ts';

export { SPEC, type ImageSpec };
void HEALTHCHECK_JS;

export function dockerfile(spec: ImageSpec): string {
  // TODO: the stages. The two bases are given; what goes into each stage, and in which order, is the exercise.
  return [
    `ARG BASE=${spec.base}`,
    `ARG BUILD_BASE=${spec.buildBase}`,
    '',
    'FROM ${BUILD_BASE} AS deps',
    'WORKDIR /src',
    '',
    'FROM ${BASE} AS runtime',
    'WORKDIR /app',
    'ENTRYPOINT ["node", "/app/shared/deploy/entrypoint.js"]',
    'CMD ["gateway"]',
    '',
  ].join('\n');
}
