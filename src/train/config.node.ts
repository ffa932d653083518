// Reading a training config from a file (Node); the parsing and validation live in config.ts.
import { readFileSync } from 'node:fs';
import { parseTrainConfig, type TrainConfig } from './config.js';

export function loadTrainConfig(path: string, overrides: readonly string[] = []): TrainConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`mvsr: ${path}: cannot read the config (${code === 'ENOENT' ? 'no such file' : (e as Error).message})`);
  }
  return parseTrainConfig(text, path, overrides);
}
