/** Worker thread for variants.ts: runs before.ts's blocking job, which blocks only this thread. */
import { parentPort } from 'node:worker_threads';
import { searchFiles } from './before.ts';
import type { CorpusFile, SearchParams } from './server-kit.ts';

interface Task {
  id: number;
  files: CorpusFile[];
  params: SearchParams;
}

parentPort!.on('message', (task: Task) => {
  try {
    parentPort!.postMessage({ id: task.id, hits: searchFiles(task.files, task.params) });
  } catch (err) {
    parentPort!.postMessage({ id: task.id, error: (err as Error).message });
  }
});
