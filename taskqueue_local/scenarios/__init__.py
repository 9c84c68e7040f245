"""What runs against a deployment: the demo and the reliability soak (with its fault proxy). What they share
with the benchmark (``bench/``) lives in the layers below, which both use."""
