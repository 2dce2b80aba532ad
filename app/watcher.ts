import { watch, type FSWatcher } from 'chokidar';
import { relative, sep } from 'node:path';
import { isNfsRoot } from './config/root-path.js';
import type { AgentConfig } from './config/schema.js';
import type { Logger } from './logging/logger.js';
import { mountFor, parseMounts } from './share/nfs-window.js';
import { isCandidateFolderName } from './share/scanner.js';

const NETWORK_FS = /^(nfs|nfs4|cifs|smb|smb2|smb3|fuse\.sshfs|9p|afs|ceph|glusterfs|lustre)$/;

/**
 * Roots whose changes arrive as filesystem events: local disks, or every kernel-mounted root
 * when forced on (an nfs:// root is read by the agent itself: there are no events to watch).
 */
export function watchableRoots(config: AgentConfig, procMounts: string): string[] {
  const mode = config.agent.watch_for_changes;
  if (mode === 'off') return [];
  const roots = config.watch.session_roots.map((r) => r.path).filter((p) => !isNfsRoot(p));
  if (mode === 'on') return roots;
  const mounts = parseMounts(procMounts);
  return roots.filter((root) => {
    const mount = mountFor(mounts, root);
    return !mount || !NETWORK_FS.test(mount.fsType);
  });
}

/** True for a new session folder, or for a required marker appearing inside one. */
export function isWakeEvent(rootPath: string, path: string, kind: 'addDir' | 'add', markers: readonly string[]): boolean {
  const rel = relative(rootPath, path).split(sep);
  if (rel.length === 0 || rel[0] === '' || rel[0] === '..' || !isCandidateFolderName(rel[0] as string)) return false;
  if (kind === 'addDir') return rel.length === 1;
  return markers.includes(rel.slice(1).join('/'));
}

/**
 * Watches session roots and calls `wake` (debounced) when a session folder or a marker file
 * appears. Polling stays the source of truth: events only shorten the wait.
 */
export function watchRoots(config: AgentConfig, roots: string[], logger: Logger, wake: () => void): FSWatcher | null {
  if (roots.length === 0) return null;
  let timer: NodeJS.Timeout | undefined;
  const debounced = () => {
    clearTimeout(timer);
    timer = setTimeout(wake, 200);
  };
  const markerDepth = Math.max(1, ...Object.values(config.profiles).flatMap((p) => p.required_markers.map((m) => m.split('/').length)));
  const watcher = watch(roots, { ignoreInitial: true, depth: markerDepth, followSymlinks: false, ignored: (path) => path.split(sep).includes('processed') });
  const check = (kind: 'add' | 'addDir') => (path: string) => {
    const root = config.watch.session_roots.find((r) => path === r.path || path.startsWith(r.path === '/' ? '/' : `${r.path}/`));
    if (!root) return;
    if (isWakeEvent(root.path, path, kind, config.profiles[root.profile]?.required_markers ?? [])) {
      logger.debug({ event: 'wake_event', path, kind }, 'filesystem event: scanning now');
      debounced();
    }
  };
  watcher.on('add', check('add'));
  watcher.on('addDir', check('addDir'));
  watcher.on('error', (err) => logger.warn({ event: 'watch_error', err }, 'filesystem watching failed; polling continues'));
  logger.info({ event: 'watching_roots', roots }, 'filesystem events wake the loop for these roots; polling continues for all');
  return watcher;
}
