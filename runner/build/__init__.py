"""One task's build: the commands, one attempt, the Codex step, its prompt, the merge gate, the run record."""
