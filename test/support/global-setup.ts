/**
 * Runs once before the suite's workers start: the run gets an agent directory
 * of its own (XDG_RUNTIME_DIR, which the workers and every process they start
 * inherit), so that no agent a test starts writes into the user's own, and it
 * is removed after the run. A test file still gives its agents a directory of
 * their own (`runtimeDir` in cli.ts) to keep them apart from other files'.
 */
import { ownAgentDirectory } from './processes.js';

export default function setup(): () => void {
  return ownAgentDirectory('distribute-suite-');
}
