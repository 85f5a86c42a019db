"""A real SIP endpoint (PJSIP's pjsua2) acting as one site, driven by a script.

Run as a child process so that PJSIP's threads and globals never share a
process with pytest. Prints one JSON object per line on stdout:
{"event": "reg", "code": 200, "expires": 300, "reason": "OK"} and so on.

Steps (comma-separated --steps): register, reregister, unregister,
wait:SECONDS, expect_incoming_options (waits for the gateway's OPTIONS ping).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import pjsua2 as pj


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


class SiteAccount(pj.Account):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.reg_events: list[dict[str, object]] = []

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        info = self.getInfo()
        event = {
            "event": "reg",
            "code": int(prm.code),
            "reason": str(prm.reason),
            "expires": int(info.regExpiresSec),
            "active": bool(info.regIsActive),
        }
        self.reg_events.append(event)
        emit(**event)


class Logger(pj.LogWriter):  # type: ignore[misc]
    def __init__(self, path: str) -> None:
        super().__init__()
        self._out = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def write(self, entry: pj.LogEntry) -> None:
        self._out.write(entry.msg)
        self._out.flush()


def pump(ep: pj.Endpoint, until: float, done: object = None) -> None:
    while time.monotonic() < until:
        ep.libHandleEvents(20)
        if callable(done) and done():
            return


def wait_reg(
    ep: pj.Endpoint, account: SiteAccount, count: int, timeout_s: float
) -> None:
    pump(ep, time.monotonic() + timeout_s, lambda: len(account.reg_events) >= count)
    if len(account.reg_events) < count:
        emit(event="timeout", waiting_for="reg")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--site", required=True)
    parser.add_argument("--aor-user", help="user part to register (default: site)")
    parser.add_argument("--domain", required=True)
    parser.add_argument(
        "--gateway", required=True, help="HOST:PORT of the TLS listener"
    )
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--expires", type=int, default=300)
    parser.add_argument("--steps", default="register,unregister")
    args = parser.parse_args()

    ep = pj.Endpoint()
    ep.libCreate()
    config = pj.EpConfig()
    config.uaConfig.threadCnt = 0
    config.uaConfig.mainThreadOnly = True
    config.uaConfig.userAgent = "pjsua2-site-test"
    logger = Logger(args.log)
    config.logConfig.writer = logger
    config.logConfig.level = 5
    config.logConfig.consoleLevel = 0
    config.logConfig.decor = pj.PJ_LOG_HAS_NEWLINE
    ep.libInit(config)

    transport = pj.TransportConfig()
    transport.port = 0
    tls = transport.tlsConfig
    tls.CaListFile = args.ca
    tls.certFile = args.cert
    tls.privKeyFile = args.key
    tls.method = pj.PJSIP_TLSV1_2_METHOD
    tls.verifyServer = True
    ep.transportCreate(pj.PJSIP_TRANSPORT_TLS, transport)
    ep.libStart()
    ep.audDevManager().setNullDev()

    account_config = pj.AccountConfig()
    user = args.aor_user or args.site
    account_config.idUri = f"sip:{user}@{args.domain}"
    account_config.regConfig.registrarUri = f"sip:{args.domain}"
    account_config.regConfig.registerOnAdd = False
    account_config.regConfig.timeoutSec = args.expires
    account_config.regConfig.retryIntervalSec = 0
    account_config.sipConfig.proxies.append(f"sip:{args.gateway};transport=tls;lr")
    account_config.natConfig.sipOutboundUse = 0
    account = SiteAccount()
    account.create(account_config)

    expected = 0
    for step in args.steps.split(","):
        name, _, value = step.partition(":")
        if name in ("register", "reregister"):
            account.setRegistration(True)
            expected += 1
            wait_reg(ep, account, expected, 15)
        elif name == "unregister":
            account.setRegistration(False)
            expected += 1
            wait_reg(ep, account, expected, 15)
        elif name == "wait":
            pump(ep, time.monotonic() + float(value))
        else:
            emit(event="error", message=f"unknown step {step}")
            return 2
    emit(event="done")
    account.shutdown()
    ep.libDestroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
