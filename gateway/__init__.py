"""vcgw: a secure SIP/H.323 video-conference gateway (B2BUA and SRTP media relay)."""

__version__ = "0.1.0"
