// Global alignment on the host. estimateShift and translate (align: global) have no TFLite
// builtin, so a .tflite of an aligned video model leaves them to the program that feeds it, as an
// app computes optical flow or gyro motion outside its network: the model takes the moved inputs
// (each translate's output) as inputs of their own, and the host computes them from the frames
// and the state the last step returned. This pass makes that cut and says what the host must do.
// Browser-safe.
import { type Graph, type GraphNode, type InputNode, graphError, graphInputs } from './ir.js';

/** A shift the host estimates: estimateShift(prev, cur, radius) on two input frames. */
export interface HostShift { id: string; prev: string; cur: string; radius: number }
/** An input the host moves: the value of input `from` translated by `factor` x shift `shift`; the model takes it as input `id`. */
export interface HostTranslate { id: string; from: string; shift: string; factor: number }
/** What the host computes before each step, in order: the shifts, then the moved inputs. */
export interface HostAlign { shifts: HostShift[]; inputs: HostTranslate[] }

/**
 * `g` without its alignment: every translate becomes an input of the same id (the host gives its
 * value) and the estimateShift nodes go. An input nothing reads any more is replaced by the one
 * translate that moves it, in the video meta too (the step then takes the moved frame or state in
 * its place), or goes if the meta does not name it.
 * A translate of anything but a graph input, or a shift from anything but input frames, cannot be
 * moved to the host and stops with an error naming the node. `align` is null when `g` has no alignment.
 */
export function hostAlignment<G extends Graph>(g: G): { graph: G; align: HostAlign | null } {
  const ins = new Map(graphInputs(g).map((n) => [n.id, n]));
  const shifts: HostShift[] = [], moved: HostTranslate[] = [];
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  for (const n of g.nodes) {
    if (n.op === 'estimateShift') {
      for (const i of n.inputs) if (!ins.has(i)) throw graphError(g, n, `reads '${i}', which is not a graph input: the host estimates shifts from input frames only`);
      shifts.push({ id: n.id, prev: n.inputs[0]!, cur: n.inputs[1]!, radius: n.radius });
    } else if (n.op === 'translate') {
      const [x, d] = n.inputs as [string, string];
      if (!ins.has(x)) throw graphError(g, n, `moves '${x}', which is not a graph input: only inputs (frames, state) can be moved by the host`);
      if (byId.get(d)?.op !== 'estimateShift') throw graphError(g, n, `its shift '${d}' is not an estimateShift node`);
      moved.push({ id: n.id, from: x, shift: d, factor: n.factor });
    }
  }
  if (!shifts.length && !moved.length) return { graph: g, align: null };
  const cut: GraphNode[] = [];
  for (const n of g.nodes) {
    if (n.op === 'estimateShift') continue;
    if (n.op === 'translate') {
      const src = ins.get(n.inputs[0]!)!;
      const inp: InputNode = { op: 'input', id: n.id, inputs: [], channels: src.channels, ...(src.scale !== undefined ? { scale: src.scale } : {}) };
      cut.push(inp);
    } else cut.push(n);
  }
  const read = new Set(cut.flatMap((n) => n.inputs));
  // an input nothing reads any more, moved by exactly one translate, is replaced by it (in the step's
  // meta too: RLSP's previous frame becomes the previous frame moved onto the current one); other
  // unread inputs stay if the step's meta names them, and go if not
  const v = g.meta.video, named = new Set([...(v?.frames ?? []), ...(v?.state.map((st) => st.input) ?? [])]);
  const replaced = new Map<string, string>();
  for (const id of ins.keys()) {
    const by = moved.filter((t) => t.from === id);
    if (!read.has(id) && by.length === 1) replaced.set(id, by[0]!.id);
  }
  const nodes = cut.filter((n) => n.op !== 'input' || read.has(n.id) || (named.has(n.id) && !replaced.has(n.id)));
  const video = v && {
    ...v,
    frames: v.frames.map((id) => replaced.get(id) ?? id),
    state: v.state.map((st) => ({ input: replaced.get(st.input) ?? st.input, output: st.output })),
  };
  if (video) {
    const inMeta = new Set([...video.frames, ...video.state.map((st) => st.input)]);
    const extra = nodes.find((n) => n.op === 'input' && !inMeta.has(n.id));
    if (extra) throw graphError(g, extra, 'is an input the host would move while the model also reads it unmoved; this step cannot leave its alignment to the host');
  }
  // a shift nothing moves by is of no use to the host
  const used = new Set(moved.map((t) => t.shift));
  return {
    graph: { ...g, meta: { ...g.meta, video }, nodes },
    align: { shifts: shifts.filter((s) => used.has(s.id)), inputs: moved },
  };
}
