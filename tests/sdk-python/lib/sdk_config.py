"""Options the session's Langfuse client is built with (conftest.py), that tests assert on."""

# Langfuse(release=...) → `langfuse.release` on the resource and on every span.
SDK_RELEASE = "sdk-python-test-release"
