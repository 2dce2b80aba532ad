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
      const negated = pattern[i + 1] === '!';
      const first = i + (negated ? 2 : 1);
      // A ']' right after '[' or '[!' is a literal member of the class.
      const end = pattern.indexOf(']', first + 1);
      if (end === -1) {
        re += '\\[';
      } else {
        const members = pattern.slice(first, end).replace(/[\\\]^]/g, '\\$&');
        // Like '*' and '?', a class never matches the path separator.
        re += negated ? `[^/${members}]` : `(?!/)[${members}]`;
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
