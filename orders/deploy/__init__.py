"""Deployments of the identity contract: Kubernetes manifests, docker-compose, setup jobs."""
