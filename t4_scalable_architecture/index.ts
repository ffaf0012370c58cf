/**
 * `npm run tN`: runs this chapter's lessons (see shared/lab/chapter.ts and `--help`); `npm run t4 -- --only capstone
 * [--quick | --minutes N]` runs the capstone soak instead (shared/deploy/soak.ts, chapter.ts HANDOVERS).
 */
import { runChapter } from '../shared/lab/chapter.ts';

await runChapter(import.meta.url);
