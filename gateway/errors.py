"""Root of the gateway's exception tree.

Each protocol package splits errors into ``Remote*Error`` (the peer broke the
protocol; the owning layer sends the carried reply) and ``Local*Error`` (we
misused an API: a bug).
"""


class GatewayError(Exception):
    """Base class of every error the gateway raises on purpose."""


class ConfigError(GatewayError):
    """The configuration file is missing, unreadable or invalid."""


class SipError(GatewayError):
    """Base of SIP errors."""


class SdpError(GatewayError):
    """Base of SDP errors."""


class H323Error(GatewayError):
    """Base of H.323 errors."""


class SrtpError(GatewayError):
    """Base of SRTP errors."""


class PkiError(GatewayError):
    """Base of certificate-authority errors. The message is shown to admins."""


class StoreError(GatewayError):
    """Base of persistence errors."""
