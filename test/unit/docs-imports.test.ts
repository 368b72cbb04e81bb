/**
 * Every `import { ... } from 'fennec-mqtt...'` shown in a ```ts block of the README or docs/ names a
 * subpath the package exports and names it exports, so the examples work as written.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

interface ShownImport {
  file: string;
  specifier: string;
  /** The names as exported (before any `as`), with whether the import is of a type only. */
  names: { name: string; typeOnly: boolean }[];
}

const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as {
  exports: Record<string, { types: string; default: string }>;
};

function shownImports(): ShownImport[] {
  const files = [
    'README.md',
    ...readdirSync('docs')
      .filter((name) => name.endsWith('.md'))
      .map((name) => join('docs', name)),
  ];
  const found: ShownImport[] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const block of text.matchAll(/^```ts\n([\s\S]*?)^```/gm)) {
      for (const statement of block[1]!.matchAll(/import\s+(type\s+)?\{([^}]*)\}\s*from\s*'(fennec-mqtt[^']*)'/g)) {
        const wholeTypeOnly = statement[1] !== undefined;
        const names = statement[2]!
          .split(',')
          .map((part) => part.trim())
          .filter((part) => part !== '')
          .map((part) => {
            const typeOnly = wholeTypeOnly || part.startsWith('type ');
            const name = part.replace(/^type\s+/, '').split(/\s+as\s+/)[0]!;
            return { name, typeOnly };
          });
        found.push({ file, specifier: statement[3]!, names });
      }
    }
  }
  return found;
}

/** The subpath of `fennec-mqtt/x` as package.json spells it (`./x`, or `.` for the package itself). */
function subpath(specifier: string): string {
  return specifier === 'fennec-mqtt' ? '.' : `.${specifier.slice('fennec-mqtt'.length)}`;
}

/**
 * Every name, value or type, that a declaration file emitted by tsc exports: its own `export`
 * declarations, the names of its `export { ... } from` lists, and through `export * from`, the
 * exports of the files it re-exports.
 */
function declaredExports(declarationFile: string, seen = new Set<string>()): Set<string> {
  const names = new Set<string>();
  if (seen.has(declarationFile)) return names;
  seen.add(declarationFile);
  const text = readFileSync(declarationFile, 'utf8');
  const declaration = /^export (?:declare )?(?:abstract )?(?:class|interface|type|const|let|var|function|enum) (\w+)/gm;
  for (const match of text.matchAll(declaration)) names.add(match[1]!);
  for (const match of text.matchAll(/^export (?:type )?\{([^}]*)\}/gm)) {
    for (const part of match[1]!.split(',')) {
      const name = part
        .trim()
        .replace(/^type\s+/, '')
        .split(/\s+as\s+/)
        .pop()!;
      if (name !== '') names.add(name);
    }
  }
  for (const match of text.matchAll(/^export \* as (\w+) from/gm)) names.add(match[1]!);
  for (const match of text.matchAll(/^export \* from '(\.[^']+)\.js';/gm)) {
    for (const name of declaredExports(join(dirname(declarationFile), `${match[1]!}.d.ts`), seen)) names.add(name);
  }
  return names;
}

describe('imports shown in the docs', () => {
  const imports = shownImports();

  it('the README shows imports from the package, its store among them', () => {
    const specifiers = new Set(imports.filter((shown) => shown.file === 'README.md').map((shown) => shown.specifier));
    assert.ok(specifiers.has('fennec-mqtt'), 'README imports from fennec-mqtt');
    assert.ok(specifiers.has('fennec-mqtt/store'), 'README imports from fennec-mqtt/store');
  });

  it('every shown import names a subpath of the package exports and names it exports', async () => {
    const problems: string[] = [];
    for (const { file, specifier, names } of imports) {
      const target = manifest.exports[subpath(specifier)];
      if (target === undefined) {
        problems.push(`${file}: '${specifier}' is not in package.json exports`);
        continue;
      }
      const values = (await import(specifier)) as Record<string, unknown>;
      const types = declaredExports(target.types);
      for (const { name, typeOnly } of names) {
        // A value must exist when the code runs; a type only where the compiler looks.
        const exported = typeOnly ? types.has(name) : name in values;
        if (!exported) problems.push(`${file}: '${specifier}' does not export ${typeOnly ? 'type ' : ''}${name}`);
      }
    }
    assert.deepEqual(problems, []);
  });
});
