"""The project's state: the store and its migrations, lifecycle, DAG, tasks, the repo lock, recovery."""
