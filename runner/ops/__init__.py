"""One-command helpers around the flow: init, doctor, demo, observe, maintain, metrics, compose."""
