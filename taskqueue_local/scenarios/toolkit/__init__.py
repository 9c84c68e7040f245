"""What the scenarios (demo, soak, bench) share: a Lambda context, an instrumented consumer, call counts,
tables and statistics. Building artifacts is the deployment layer's (``deployment.artifacts``)."""
