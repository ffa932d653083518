// A minimal WebM (Matroska) writer for one video track of WebCodecs chunks (VP8/VP9): the EBML
// header, a Segment of unknown size with Info and Tracks, and a Cluster per key frame holding
// SimpleBlocks. Enough for players and ffmpeg to read; no seeking index (Cues).

/** Bytes of an EBML variable-length unsigned integer (element sizes). */
function vint(n: number): number[] {
  for (let len = 1; len <= 8; len++) {
    if (n < 2 ** (7 * len) - 1) {
      const out: number[] = [];
      let v = n;
      for (let i = len - 1; i >= 0; i--) {
        out[i] = v % 256;
        v = Math.floor(v / 256);
      }
      out[0]! |= 1 << (8 - len);
      return out;
    }
  }
  throw new Error(`webm: size ${n} too large`);
}

/** Big-endian unsigned integer in the fewest bytes (at least 1). */
function uint(n: number): number[] {
  const out: number[] = [];
  do {
    out.unshift(n % 256);
    n = Math.floor(n / 256);
  } while (n > 0);
  return out;
}

const ids: Record<string, number[]> = {
  EBML: [0x1a, 0x45, 0xdf, 0xa3], EBMLVersion: [0x42, 0x86], EBMLReadVersion: [0x42, 0xf7], EBMLMaxIDLength: [0x42, 0xf2],
  EBMLMaxSizeLength: [0x42, 0xf3], DocType: [0x42, 0x82], DocTypeVersion: [0x42, 0x87], DocTypeReadVersion: [0x42, 0x85],
  Segment: [0x18, 0x53, 0x80, 0x67], Info: [0x15, 0x49, 0xa9, 0x66], TimecodeScale: [0x2a, 0xd7, 0xb1], MuxingApp: [0x4d, 0x80],
  WritingApp: [0x57, 0x41], Duration: [0x44, 0x89], Tracks: [0x16, 0x54, 0xae, 0x6b], TrackEntry: [0xae], TrackNumber: [0xd7],
  TrackUID: [0x73, 0xc5], TrackType: [0x83], CodecID: [0x86], Video: [0xe0], PixelWidth: [0xb0], PixelHeight: [0xba],
  Cluster: [0x1f, 0x43, 0xb6, 0x75], Timecode: [0xe7], SimpleBlock: [0xa3],
};

type El = number[] | Uint8Array;
const el = (name: string, ...body: El[]): number[] => {
  const data = body.flatMap((b) => Array.from(b));
  return [...ids[name]!, ...vint(data.length), ...data];
};
const str = (s: string): number[] => Array.from(new TextEncoder().encode(s));
const f64 = (v: number): number[] => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, v);
  return Array.from(b);
};

export interface WebmFrame { data: Uint8Array; timestampMs: number; key: boolean }

/** One WebM file of a video track (codec 'V_VP8' or 'V_VP9') from its frames in order. */
export function writeWebm(frames: WebmFrame[], o: { width: number; height: number; codec: 'V_VP8' | 'V_VP9'; durationMs: number }): Uint8Array {
  if (frames.length === 0 || !frames[0]!.key) throw new Error('webm: the first frame must be a key frame');
  const head = el('EBML', el('EBMLVersion', [1]), el('EBMLReadVersion', [1]), el('EBMLMaxIDLength', [4]), el('EBMLMaxSizeLength', [8]),
    el('DocType', str('webm')), el('DocTypeVersion', [2]), el('DocTypeReadVersion', [2]));
  const info = el('Info', el('TimecodeScale', uint(1_000_000)), el('MuxingApp', str('mvsr')), el('WritingApp', str('mvsr')), el('Duration', f64(o.durationMs)));
  const tracks = el('Tracks', el('TrackEntry', el('TrackNumber', [1]), el('TrackUID', [1]), el('TrackType', [1]), el('CodecID', str(o.codec)),
    el('Video', el('PixelWidth', uint(o.width)), el('PixelHeight', uint(o.height)))));
  const parts: Uint8Array[] = [];
  let cluster: number[][] = [], base = 0;
  const close = () => {
    if (cluster.length) parts.push(Uint8Array.from(el('Cluster', el('Timecode', uint(base)), ...cluster)));
    cluster = [];
  };
  for (const f of frames) {
    const t = Math.round(f.timestampMs);
    if (f.key || t - base > 30_000) {
      close();
      base = t;
    }
    const rel = t - base;
    const block = new Uint8Array(4 + f.data.length);
    block[0] = 0x81; // track 1 as a vint
    block[1] = (rel >> 8) & 0xff;
    block[2] = rel & 0xff;
    block[3] = f.key ? 0x80 : 0;
    block.set(f.data, 4);
    cluster.push(el('SimpleBlock', block));
  }
  close();
  // Segment of unknown size (0x01FFFFFFFFFFFFFF): written in one pass
  const segment = [...ids.Segment!, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, ...info, ...tracks];
  const total = head.length + segment.length + parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(total);
  out.set(head, 0);
  out.set(segment, head.length);
  let at = head.length + segment.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
