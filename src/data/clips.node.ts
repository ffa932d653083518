// Video clips for evaluation and training: a video file, a folder of frames, or a root holding
// many (REDS train_sharp/000..., Vimeo-90K sequences/00001/0001 or the flat 00001_0001 layout,
// video files), selected by name patterns (a group held out: --clips '00001_*').
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { walkClipTree, naturalCompare } from '../io/frames.node.js';
import { fileReadError } from '../io/y4m.node.js';

export const VIDEO_FILE = /\.(y4m|mp4|mkv|webm|avi|mov|m4v)$/i;

export interface ClipRef {
  /** Path relative to the root, '/'-separated ('00001_0001', 'sequences/00001/0001', 'a.mp4'). */
  name: string;
  path: string;
}

/** Shell-style pattern (* ? only) to a RegExp matching the whole name. */
export function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

/**
 * The clips under `spec`: the file itself, or every frame folder and video file below the folder.
 * `include` / `exclude` patterns match clip names (and their last path component).
 */
export async function listClips(spec: string, o: { include?: string[]; exclude?: string[] } = {}): Promise<ClipRef[]> {
  let st;
  try {
    st = await fsp.stat(spec);
  } catch (e) {
    throw fileReadError(spec, e);
  }
  let refs: ClipRef[];
  if (!st.isDirectory()) refs = [{ name: path.basename(spec), path: spec }];
  else {
    const rel = (p: string) => path.relative(spec, p).split(path.sep).join('/') || path.basename(path.resolve(spec));
    const { folders, videos } = await walkClipTree(spec, VIDEO_FILE);
    refs = [...folders, ...videos].sort(naturalCompare).map((p) => ({ name: rel(p), path: p }));
  }
  const test = (pats: string[] | undefined, r: ClipRef) => pats!.some((g) => { const re = globToRegExp(g); return re.test(r.name) || re.test(r.name.split('/').at(-1)!); });
  if (o.include?.length) refs = refs.filter((r) => test(o.include, r));
  if (o.exclude?.length) refs = refs.filter((r) => !test(o.exclude, r));
  if (!refs.length) throw new Error(`mvsr: ${spec}: no clips${o.include?.length || o.exclude?.length ? ' match the selection' : ''} (a clip is a video file or a folder of PNG/JPEG/WebP frames)`);
  return refs;
}
