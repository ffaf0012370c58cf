/** `npm run tN`: runs this chapter's lessons (see shared/lab/chapter.ts and `--help`). */
import { runChapter } from '../shared/lab/chapter.ts';

await runChapter(import.meta.url);
