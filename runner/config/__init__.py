"""The layered configuration, typed from load to its last use."""
