"""Deploying onto the local stack: the Terraform-applied stack and the direct harness, both producing a
:class:`~taskqueue_local.deployment.deployment.Deployment`. It imports nothing from the scenarios."""
