import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A small lab share: two complete sessions (one with a multipart-sized file) and one still being written. */
export async function writeSampleShare(root: string): Promise<string[]> {
  const s1 = join(root, 'battery-2026-11-001');
  await mkdir(join(s1, 'frames'), { recursive: true });
  await writeFile(join(s1, 'metadata.json'), JSON.stringify({ session_id: 'BAT-2026-11-001', operator: 'jdoe', cell: 'A7' }, null, 2));
  await writeFile(join(s1, 'data.csv'), csv(2000));
  await writeFile(join(s1, 'frames', 'frame_0001.bin'), randomBytes(12 * 1024 * 1024));
  await writeFile(join(s1, 'session_summary.json'), JSON.stringify({ status: 'finished', cycles: 2000 }));

  const s2 = join(root, 'battery-2026-11-002');
  await mkdir(join(s2, 'notes'), { recursive: true });
  await writeFile(join(s2, 'metadata.json'), JSON.stringify({ operator: 'mléa' }));
  await writeFile(join(s2, 'data.csv'), csv(500));
  await writeFile(join(s2, 'notes', 'résumé de la séance.txt'), 'Cell A8 cycled at 1C; no anomalies.\n');
  await writeFile(join(s2, 'data.csv.tmp'), 'partial write, ignored by *.tmp');
  await writeFile(join(s2, 'empty.log'), '');
  await writeFile(join(s2, 'session_summary.json'), JSON.stringify({ status: 'finished', cycles: 500 }));

  const s3 = join(root, 'battery-2026-11-003');
  await mkdir(s3, { recursive: true });
  await writeFile(join(s3, 'metadata.json'), JSON.stringify({ session_id: 'BAT-2026-11-003' }));
  await writeFile(join(s3, 'data.csv'), csv(100));
  return [s1, s2, s3];
}

function csv(rows: number): string {
  const lines = ['time_s,voltage_v,current_a,temperature_c'];
  for (let i = 0; i < rows; i++)
    lines.push(`${i},${(3.7 + Math.sin(i / 50) * 0.4).toFixed(4)},${(i % 200 < 100 ? 1.5 : -1.5).toFixed(2)},${(25 + (i % 30) / 10).toFixed(1)}`);
  return `${lines.join('\n')}\n`;
}
