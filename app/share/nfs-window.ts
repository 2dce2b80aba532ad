/**
 * An NFS client may not see another host's writes for up to acregmax (file attributes) or
 * acdirmax (directory listings) seconds, 60 by default. A stability window shorter than twice
 * that can call a folder stable while the lab PC is still writing to it.
 */
const DEFAULT_ATTR_CACHE_MAX = 60;

export interface NfsWindowWarning {
  root: string;
  mountPoint: string;
  fsType: string;
  attributeCacheSeconds: number;
  minimumWindowSeconds: number;
}

export interface Mount {
  mountPoint: string;
  fsType: string;
  options: string[];
}

export function parseMounts(procMounts: string): Mount[] {
  return procMounts
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length >= 4)
    .map((f) => ({ mountPoint: unescapeMount(f[1] as string), fsType: f[2] as string, options: (f[3] as string).split(',') }));
}

/** The longest attribute cache time the mount's options allow. */
export function attributeCacheSeconds(options: readonly string[]): number {
  if (options.includes('noac')) return 0;
  const value = (name: string) => {
    const opt = options.find((o) => o.startsWith(`${name}=`));
    return opt === undefined ? undefined : Number(opt.slice(name.length + 1));
  };
  const actimeo = value('actimeo');
  if (actimeo !== undefined) return actimeo;
  return Math.max(value('acregmax') ?? DEFAULT_ATTR_CACHE_MAX, value('acdirmax') ?? DEFAULT_ATTR_CACHE_MAX);
}

/** The mount that holds `path`: the deepest mount point containing it. */
export function mountFor(mounts: readonly Mount[], path: string): Mount | undefined {
  return mounts
    .filter((m) => path === m.mountPoint || path.startsWith(m.mountPoint.endsWith('/') ? m.mountPoint : `${m.mountPoint}/`))
    .sort((a, b) => b.mountPoint.length - a.mountPoint.length)[0];
}

export function nfsWindowWarnings(procMounts: string, roots: readonly string[], stableWindowSeconds: number): NfsWindowWarning[] {
  const mounts = parseMounts(procMounts);
  const warnings: NfsWindowWarning[] = [];
  for (const root of roots) {
    const mount = mountFor(mounts, root);
    if (!mount || !mount.fsType.startsWith('nfs')) continue;
    const cache = attributeCacheSeconds(mount.options);
    const minimum = 2 * cache;
    if (stableWindowSeconds < minimum) {
      warnings.push({ root, mountPoint: mount.mountPoint, fsType: mount.fsType, attributeCacheSeconds: cache, minimumWindowSeconds: minimum });
    }
  }
  return warnings;
}

/** /proc/mounts escapes spaces and a few other bytes as octal. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}
