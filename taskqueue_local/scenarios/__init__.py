"""What runs against a deployment: the demo, the reliability soak (with its fault proxy), and the
toolkit they share with the benchmark (``bench/``)."""
