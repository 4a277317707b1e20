"""Planning: a PRD into a validated task DAG, and the plan's versions."""
