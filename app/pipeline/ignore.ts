/**
 * Glob matching for ignore patterns: `*` and `?` stay within one path segment, `**` spans
 * segments, `[...]` is a character class. A pattern matches a file when it matches the
 * file's name or its relative path.
 */
export function compileGlob(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else {
          re += '.*';
        }
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end === -1) {
        re += '\\[';
      } else {
        const body = pattern.slice(i + 1, end).replace(/\\/g, '\\\\');
        re += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
        i = end;
      }
    } else {
      re += c.replace(/[.+^${}()|\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${re}$`, 's');
}

export type IgnoreMatcher = (relativePath: string) => boolean;

export function ignoreMatcher(patterns: readonly string[]): IgnoreMatcher {
  const compiled = patterns.map(compileGlob);
  if (compiled.length === 0) return () => false;
  return (relativePath) => {
    const name = relativePath.slice(relativePath.lastIndexOf('/') + 1);
    return compiled.some((re) => re.test(name) || re.test(relativePath));
  };
}
