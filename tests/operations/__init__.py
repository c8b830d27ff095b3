"""Running it: the command line, settings, migrations, logs and metrics, outages."""
