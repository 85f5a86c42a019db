"""Unit tests of gateway.sdp."""
