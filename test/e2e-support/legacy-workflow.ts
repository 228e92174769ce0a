import { condition, defineQuery, defineSignal, setHandler } from '@temporalio/workflow';

/** A workflow that outlives a codec change: started and signalled under one codec, finished under another. */
export const addNote = defineSignal<[string]>('addNote');
export const finish = defineSignal<[string]>('finish');
export const notes = defineQuery<string[]>('notes');

export async function legacyMigration(input: { token: string }): Promise<{ token: string; notes: string[] }> {
  const seen: string[] = [];
  let done = false;
  setHandler(addNote, (note) => void seen.push(note));
  setHandler(finish, (note) => {
    seen.push(note);
    done = true;
  });
  setHandler(notes, () => seen);
  await condition(() => done);
  return { token: input.token, notes: seen };
}
