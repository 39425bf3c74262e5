"""The callback ingress: authenticates provider callbacks and signals the workflow that waits."""
