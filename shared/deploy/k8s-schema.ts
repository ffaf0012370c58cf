/**
 * Kubernetes objects checked against the Kubernetes OpenAPI schemas, with unknown fields rejected.
 *
 * Two passes, both from the `kubernetes-models` package (v4, generated from the Kubernetes OpenAPI spec):
 *
 * 1. **Schema** (`new Deployment(obj).validate()`): types, formats, enums and required fields. Its generated ajv
 *    validators do not reject properties the schema does not name (the OpenAPI spec sets no
 *    `additionalProperties: false`), so `spec.replica: 3` or `readinessProbe.httpget` would pass, and the API server
 *    would drop them in silence (or reject them, with `kubectl apply --validate=strict`, only at deploy time).
 * 2. **Strict fields**: every key of the object is looked up in the package's TypeScript declaration of its kind
 *    (`IDeployment` and the types it references, read with the TypeScript compiler API); a key no declaration names
 *    is an error, with its path. Maps (`labels`, `data`, `resources.limits`) are index signatures and accept any key.
 *
 * Only built-in kinds are known (custom resources → 'unknown kind'). The compiler program covers the kinds asked for
 * and the common ones (a few seconds on a loaded 2-core machine) and is kept for the process; a kind not in it
 * builds it again.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import ts from 'typescript';
import { REPO_ROOT } from '../util/paths.ts';

export interface K8sObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export interface SchemaError {
  /** `Kind/name`. */
  object: string;
  /** JSON path in the object, e.g. /spec/template/spec/containers/0/readinessProbe/httpget. */
  path: string;
  message: string;
}

export const objectName = (o: K8sObject) => `${o.kind ?? '?'}/${o.metadata?.name ?? '?'}`;

/** 'apps/v1' → 'kubernetes-models/apps/v1'; 'v1' → 'kubernetes-models/v1'. */
function modelModule(apiVersion: string): string {
  return `kubernetes-models/${apiVersion}`;
}

/** Pass 1: the generated validators of kubernetes-models. */
export async function schemaErrors(obj: K8sObject): Promise<SchemaError[]> {
  const name = objectName(obj);
  if (!obj.apiVersion || !obj.kind) return [{ object: name, path: '', message: 'apiVersion and kind are required' }];
  let mod: Record<string, unknown>;
  try {
    mod = (await import(modelModule(obj.apiVersion))) as Record<string, unknown>;
  } catch {
    return [{ object: name, path: '/apiVersion', message: `unknown apiVersion ${obj.apiVersion}` }];
  }
  const Model = mod[obj.kind] as (new (data: unknown) => { validate(): void }) | undefined;
  if (typeof Model !== 'function') return [{ object: name, path: '/kind', message: `unknown kind ${obj.kind} in ${obj.apiVersion}` }];
  // kustomize folds a long base64 value over lines; the API server's decoder skips line breaks, the schema's
  // `byte` format does not: compare without them
  const data = obj.kind === 'Secret' && obj.data && typeof obj.data === 'object'
    ? { ...obj, data: Object.fromEntries(Object.entries(obj.data as Record<string, unknown>).map(([k, v]) => [k, typeof v === 'string' ? v.replace(/\s+/g, '') : v])) }
    : obj;
  try {
    new Model(data).validate();
    return [];
  } catch (err) {
    const details = (err as { errors?: Array<{ instancePath?: string; message?: string; params?: unknown }> }).errors;
    if (Array.isArray(details) && details.length > 0) {
      return details.map((d) => ({ object: name, path: d.instancePath ?? '', message: `${d.message ?? 'invalid'}${d.params ? ` ${JSON.stringify(d.params)}` : ''}` }));
    }
    return [{ object: name, path: '', message: (err as Error).message }];
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Pass 2: unknown fields, from the TypeScript declarations

let current: { asked: Set<string>; types: Map<string, ts.Type> } | undefined;
const COMMON_KINDS = [
  'apps/v1/Deployment', 'apps/v1/StatefulSet', 'apps/v1/DaemonSet', 'batch/v1/Job', 'batch/v1/CronJob', 'v1/Service',
  'v1/ConfigMap', 'v1/Secret', 'v1/Namespace', 'v1/ServiceAccount', 'v1/PersistentVolumeClaim', 'v1/Pod',
  'networking.k8s.io/v1/Ingress', 'networking.k8s.io/v1/NetworkPolicy', 'policy/v1/PodDisruptionBudget',
  'autoscaling/v2/HorizontalPodAutoscaler',
];
let checker: ts.TypeChecker | undefined;
const KINDS_FILE = path.join(REPO_ROOT, '__k8s_kinds__.ts');
const typeKey = (apiVersion: string, kind: string) => `${apiVersion}/${kind}`;

/** Does kubernetes-models declare `I<kind>` in the module of `apiVersion`? (Its runtime export says.) */
function declared(apiVersion: string, kind: string): boolean {
  if (!/^([a-z0-9.-]+\/)?v\d+((alpha|beta)\d+)?$/.test(apiVersion) || !/^[A-Z][A-Za-z0-9]*$/.test(kind)) return false;
  try {
    const model = (createRequire(import.meta.url)(`kubernetes-models/${apiVersion}`) as Record<string, unknown>)[kind];
    return typeof model === 'function' && (model as { kind?: string }).kind === kind;
  } catch {
    return false;
  }
}

/** The declared types of these kinds, from one TypeScript program over the package's declarations. */
function declaredTypes(kinds: ReadonlyArray<{ apiVersion: string; kind: string }>): Map<string, ts.Type> {
  const asked = kinds.filter((k) => declared(k.apiVersion, k.kind)).map((k) => typeKey(k.apiVersion, k.kind));
  if (current && asked.every((k) => current!.asked.has(k))) return current.types;
  // one program for every kind asked so far and the common ones: built again only when a new kind turns up
  const wanted = [...new Set([...COMMON_KINDS, ...(current?.asked ?? []), ...asked])].sort();
  const list = wanted
    .map((key) => ({ apiVersion: key.slice(0, key.lastIndexOf('/')), kind: key.slice(key.lastIndexOf('/') + 1) }))
    .filter((k) => declared(k.apiVersion, k.kind));
  const source = list.map((k, i) => `import type { I${k.kind} as T${i} } from 'kubernetes-models/${k.apiVersion}';\nexport type K${i} = T${i};`).join('\n');
  const options: ts.CompilerOptions = { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, noEmit: true, skipLibCheck: true, types: [] };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (file, lang, ...rest) => (path.resolve(file) === KINDS_FILE ? ts.createSourceFile(file, source, lang) : getSourceFile(file, lang, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (f) => path.resolve(f) === KINDS_FILE || fileExists(f);
  const p = ts.createProgram([KINDS_FILE], options, host);
  checker = p.getTypeChecker();
  const sf = p.getSourceFile(KINDS_FILE)!;
  const types = new Map<string, ts.Type>();
  for (const st of sf.statements) {
    if (!ts.isTypeAliasDeclaration(st)) continue;
    const k = list[Number(st.name.text.slice(1))];
    const t = checker.getTypeAtLocation(st.name);
    if (!(t.flags & ts.TypeFlags.Any)) types.set(typeKey(k.apiVersion, k.kind), t); // Any: not resolved, not checked
  }
  current = { asked: new Set(wanted), types };
  return types;
}

/** Pass 2: every key that the declaration of its object's kind does not name, for each object. */
export function unknownFields(objs: K8sObject | readonly K8sObject[]): SchemaError[] {
  const list = Array.isArray(objs) ? (objs as readonly K8sObject[]) : [objs as K8sObject];
  const types = declaredTypes(list.filter((o) => o.apiVersion && o.kind).map((o) => ({ apiVersion: o.apiVersion!, kind: o.kind! })));
  const c = checker!;
  const out: SchemaError[] = [];
  for (const obj of list) {
    const name = objectName(obj);
    const root = obj.apiVersion && obj.kind ? types.get(typeKey(obj.apiVersion, obj.kind)) : undefined;
    if (!root) {
      out.push({ object: name, path: '', message: `unknown kind ${obj.apiVersion}/${obj.kind}: fields not checked` });
      continue;
    }
    const walk = (value: unknown, type: ts.Type, at: string): void => {
      if (value === null || typeof value !== 'object') return;
      if (type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return;
      let t = type;
      if (t.isUnion()) {
        const objects = t.types.filter((u) => u.flags & ts.TypeFlags.Object);
        if (objects.length !== 1) return; // primitives only (IntOrString…) or ambiguous: the schema pass types it
        t = objects[0];
      }
      if (Array.isArray(value)) {
        const el = c.isArrayType(t) ? c.getTypeArguments(t as ts.TypeReference)[0] : undefined;
        if (el) value.forEach((v, i) => walk(v, el, `${at}/${i}`));
        return;
      }
      const indexed = c.getIndexTypeOfType(t, ts.IndexKind.String);
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        const prop = t.getProperty(k);
        if (prop) walk(v, c.getTypeOfSymbol(prop), `${at}/${k}`);
        else if (indexed) walk(v, indexed, `${at}/${k}`);
        else {
          const near = t.getProperties().map((p) => p.name).find((n) => n.toLowerCase() === k.toLowerCase() || n === `${k}s` || `${n}s` === k);
          out.push({ object: name, path: `${at}/${k}`, message: `unknown field "${k}"${near ? ` (did you mean "${near}"?)` : ''}` });
        }
      }
    };
    walk(obj, root, '');
  }
  return out;
}

/** Both passes. */
export async function validateObjects(objs: readonly K8sObject[]): Promise<SchemaError[]> {
  const out: SchemaError[] = [];
  for (const o of objs) out.push(...(await schemaErrors(o)));
  return [...out, ...unknownFields(objs)];
}
