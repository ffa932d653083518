// The flags of the commands that `mvsr queue add` also takes (it parses a job's command line
// with the command's own flags, to find the files it reads and writes).
import type { Options } from './args.js';

export const MODEL_FLAGS = {
  backend: { type: 'string', short: 'b' },
  model: { type: 'string', short: 'm' },
  arch: { type: 'string' },
  args: { type: 'string' },
  scale: { type: 'string', short: 's' },
  threads: { type: 'string', short: 't' },
} as const satisfies Options;

export const EVAL_FLAGS = {
  ...MODEL_FLAGS, data: { type: 'string', short: 'd' }, y: { type: 'boolean' }, rgb: { type: 'boolean' }, 'y-uint8': { type: 'boolean' },
  crop: { type: 'string' }, mod: { type: 'string' }, json: { type: 'boolean' },
} as const satisfies Options;

export const EVAL_VIDEO_FLAGS = {
  'restart-every': { type: 'string' }, 'by-position': { type: 'boolean' },
  ...MODEL_FLAGS, data: { type: 'string', short: 'd' }, clips: { type: 'string' }, exclude: { type: 'string' },
  crop: { type: 'string' }, mod: { type: 'string' }, frames: { type: 'boolean' }, json: { type: 'boolean' },
} as const satisfies Options;

export const EXPORT_FLAGS = {
  output: { type: 'string', short: 'o' }, input: { type: 'string' }, dynamic: { type: 'boolean' }, fp16: { type: 'boolean' },
  nhwc: { type: 'boolean' }, opset: { type: 'string' }, 'int8-tables': { type: 'boolean' }, arch: { type: 'string' }, args: { type: 'string' }, scale: { type: 'string', short: 's' },
  int8: { type: 'boolean' }, io: { type: 'string' },
} as const satisfies Options;

export const QUANTIZE_FLAGS = {
  output: { type: 'string', short: 'o' }, calib: { type: 'string' }, method: { type: 'string' }, samples: { type: 'string' },
  patch: { type: 'string' }, frames: { type: 'string' }, lr: { type: 'boolean' }, report: { type: 'boolean' },
  qat: { type: 'string' }, 'qat-data': { type: 'string' }, 'qat-lr': { type: 'string' }, 'qat-batch': { type: 'string' }, 'qat-patch': { type: 'string' }, 'qat-frames': { type: 'string' },
  'qat-ranges': { type: 'string' }, 'qat-range-lr': { type: 'string' }, 'qat-target': { type: 'string' },
  cache: { type: 'string' }, 'no-outlier-split': { type: 'boolean' },
  arch: { type: 'string' }, args: { type: 'string' }, scale: { type: 'string', short: 's' },
} as const satisfies Options;
