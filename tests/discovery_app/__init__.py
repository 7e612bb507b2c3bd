"""An installed app of the discovery test (tests/integration/test_testing_discovery.py): its `functions.py` is
imported by nothing but the discovery that `manage.py worker` and `runs.testing.worker()` share."""
