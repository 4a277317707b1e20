"""Worktrees and the trees containers write: the pool, sync, capped filesystems, extraction."""
