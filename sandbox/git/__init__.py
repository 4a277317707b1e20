"""Every git call of the product: pinned plumbing for hostile trees, commit and merge, branch moves."""
