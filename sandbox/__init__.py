"""Everything that touches Docker and git worktrees. Never imports `runner`."""
