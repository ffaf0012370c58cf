/**
 * Keeps every lesson's exercise.ts and wrong/*.ts in step with its after.ts, so the copies cannot drift: each must
 * export what after.ts exports, with the same shapes (functions, classes, constants, interfaces and types compared
 * structurally by the TypeScript checker), and exercise.ts may import from the project only what after.ts imports
 * (packages and node: built-ins are free; the learner adds what the mechanism needs).
 */
import path from 'node:path';
import ts from 'typescript';
import { wrongSolutions } from './checkpoint.ts';
import type { LessonRef } from './lessons.ts';

export interface ApiProblem {
  lesson: string;
  file: string;
  message: string;
}

function exportsOf(checker: ts.TypeChecker, sf: ts.SourceFile): Map<string, ts.Symbol> {
  const mod = checker.getSymbolAtLocation(sf);
  const out = new Map<string, ts.Symbol>();
  if (!mod) return out;
  for (const s of checker.getExportsOfModule(mod)) out.set(s.getName(), s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s);
  return out;
}

/** Project-internal import targets of a file (relative specifiers), as absolute paths. */
function internalImports(sf: ts.SourceFile): Set<string> {
  const out = new Set<string>();
  const dir = path.dirname(sf.fileName);
  for (const st of sf.statements) {
    if ((ts.isImportDeclaration(st) || ts.isExportDeclaration(st)) && st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier)) {
      const spec = st.moduleSpecifier.text;
      if (spec.startsWith('.')) out.add(path.resolve(dir, spec));
    }
  }
  return out;
}

function kind(s: ts.Symbol): 'value' | 'type' {
  return s.flags & ts.SymbolFlags.Value ? 'value' : 'type';
}

const printer = ts.createPrinter({ removeComments: true });

/** A declaration's text without comments or formatting: the fallback for generic types, whose parameters are
 *  distinct per file and so never assignable to each other structurally. */
function declarationText(s: ts.Symbol): string {
  return (s.declarations ?? [])
    .map((d) => printer.printNode(ts.EmitHint.Unspecified, d, d.getSourceFile()))
    .join('\n')
    .replace(/\s+/g, ' ');
}

/** Which members of two object types differ ("score: string, after.ts has number"), for a readable message. */
function memberDiff(checker: ts.TypeChecker, after: ts.Type, copy: ts.Type, at: ts.Node, copyAt: ts.Node): string | undefined {
  const a = new Map(checker.getPropertiesOfType(after).map((p) => [p.getName(), p]));
  const c = new Map(checker.getPropertiesOfType(copy).map((p) => [p.getName(), p]));
  if (a.size === 0 && c.size === 0) return undefined;
  const out: string[] = [];
  for (const [name, p] of a) {
    const q = c.get(name);
    if (!q) {
      out.push(`no ${name}`);
      continue;
    }
    const ta = checker.typeToString(checker.getTypeOfSymbolAtLocation(p, at));
    const tc = checker.typeToString(checker.getTypeOfSymbolAtLocation(q, copyAt));
    if (ta !== tc) out.push(`${name}: ${tc}, after.ts has ${ta}`);
  }
  for (const name of c.keys()) if (!a.has(name)) out.push(`${name} is extra`);
  return out.length ? out.join('; ') : undefined;
}

function shapeOf(checker: ts.TypeChecker, s: ts.Symbol, at: ts.Node): ts.Type {
  return kind(s) === 'value' ? checker.getTypeOfSymbolAtLocation(s, at) : checker.getDeclaredTypeOfSymbol(s);
}

/** Check the given lessons; an empty list means every copy is in step. */
export function checkExerciseApis(lessons: LessonRef[]): ApiProblem[] {
  const pairs: Array<{ lesson: LessonRef; after: string; copy: string; isExercise: boolean }> = [];
  for (const l of lessons) {
    const after = path.join(l.path, 'after.ts');
    if (l.hasExercise) pairs.push({ lesson: l, after, copy: path.join(l.path, 'exercise.ts'), isExercise: true });
    for (const w of wrongSolutions(l.path)) pairs.push({ lesson: l, after, copy: path.join(l.path, `${w}.ts`), isExercise: false });
  }
  if (pairs.length === 0) return [];
  const program = ts.createProgram({
    rootNames: [...new Set(pairs.flatMap((p) => [p.after, p.copy]))],
    options: {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      allowImportingTsExtensions: true,
      noEmit: true,
      strict: true,
      skipLibCheck: true,
      types: ['node'],
    },
  });
  const checker = program.getTypeChecker();
  const problems: ApiProblem[] = [];
  for (const p of pairs) {
    const a = program.getSourceFile(p.after);
    const c = program.getSourceFile(p.copy);
    const rel = path.relative(p.lesson.path, p.copy);
    const add = (message: string) => problems.push({ lesson: p.lesson.id, file: rel, message });
    if (!a || !c) {
      add(`could not read ${!a ? 'after.ts' : rel}`);
      continue;
    }
    const theirs = exportsOf(checker, c);
    for (const [name, sym] of exportsOf(checker, a)) {
      const other = theirs.get(name);
      if (!other) {
        add(`does not export ${name}, which after.ts exports`);
        continue;
      }
      if (kind(other) !== kind(sym)) {
        add(`exports ${name} as a ${kind(other)}; after.ts exports a ${kind(sym)}`);
        continue;
      }
      const ta = shapeOf(checker, sym, a);
      const tc = shapeOf(checker, other, c);
      const same = (checker.isTypeAssignableTo(ta, tc) && checker.isTypeAssignableTo(tc, ta)) || (kind(sym) === 'type' && declarationText(sym) === declarationText(other));
      if (!same) {
        const members = kind(sym) === 'type' ? memberDiff(checker, ta, tc, a, c) : undefined;
        add(members ? `${name} differs from after.ts's: ${members}` : `${name} has type ${checker.typeToString(tc)}; after.ts has ${checker.typeToString(ta)}`);
      }
    }
    if (p.isExercise) {
      const allowed = internalImports(a);
      for (const imp of internalImports(c)) {
        if (!allowed.has(imp)) add(`imports ${path.relative(p.lesson.path, imp)}, which after.ts does not import`);
      }
    }
  }
  return problems;
}
