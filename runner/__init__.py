"""The orchestrator: CLI, config, state store, lifecycle, DAG, planner, executor, policy."""
