"""The local Kubernetes control plane used by jobwarden\x27s demo and tests."""
