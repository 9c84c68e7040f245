"""The test suite. Test modules import helpers from :mod:`tests.support`, never from one another."""
