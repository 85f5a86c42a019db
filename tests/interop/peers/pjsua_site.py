"""A real SIP endpoint (PJSIP's pjsua2) acting as one site, driven by a script.

Run as a child process so that PJSIP's threads and globals never share a
process with pytest. Prints one JSON object per line on stdout:
{"event": "reg", "code": 200, "expires": 300, "reason": "OK"} and so on.

Steps (comma-separated --steps): register, reregister, unregister,
wait:SECONDS, call:USER (call sip:USER@domain and wait for answer or failure),
await_call (wait until an incoming call is answered: answering is automatic),
stats (print RTP packet counts of the current call), hangup, await_end.

More steps: ring_only (from now on incoming calls get 180 and are not
answered), early_only (the same with 183 and SDP: early media), answer (answer
that call with 200), await_ringing (wait until an incoming call is ringing), dial:USER
(call sip:USER@domain and wait only until it rings, is answered or fails),
call_another:USER (place one more call, keeping the current one up, and print
a "call_another" event with its final state and status), hold (re-INVITE
with a=sendonly), unhold (re-INVITE with a=sendrecv), codec:NAME (re-INVITE
offering only that audio codec, e.g. codec:PCMA), info (SIP INFO
picture_fast_update, RFC 5168), dtmf:DIGITS (DTMF in SIP INFO), dtmf4733:DIGITS
(DTMF as RFC 4733 telephone-event in the audio),
call_late:USER (like call, but the INVITE has no SDP: a late offer).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable

import pjsua2 as pj


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


class SiteAccount(pj.Account):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.reg_events: list[dict[str, object]] = []
        self.call: SiteCall | None = None
        self.is_auto_answer = True
        self.provisional_status = 180  # What an unanswered incoming call gets.
        # Calls other than ``call`` stay referenced: a collected Call hangs up.
        self.other_calls: list[SiteCall] = []

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        call = SiteCall(self, prm.callId)
        self.call = call
        emit(event="incoming")
        answer = pj.CallOpParam()
        answer.statusCode = 200 if self.is_auto_answer else self.provisional_status
        call.answer(answer)

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


class SiteCall(pj.Call):  # type: ignore[misc]
    def __init__(self, account: pj.Account, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(account, call_id)
        self.state = "null"
        self.last_status = 0
        self.tone: pj.ToneGenerator | None = None

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        info = self.getInfo()
        self.state = str(info.stateText).lower()
        self.last_status = int(info.lastStatusCode)
        emit(
            event="call",
            state=self.state,
            status=self.last_status,
            reason=str(info.lastReason),
        )

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        # RFC 4733 or SIP INFO (application/dtmf-relay), as PJSUA reports it.
        emit(event="dtmf_received", digit=str(prm.digit), method=int(prm.method))

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        info = self.getInfo()
        emit(event="media", status=[int(m.status) for m in info.media])
        for index, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status in (
                pj.PJSUA_CALL_MEDIA_ACTIVE,
                pj.PJSUA_CALL_MEDIA_REMOTE_HOLD,
            ):
                audio = self.getAudioMedia(index)
                tone = pj.ToneGenerator()
                tone.createToneGenerator()
                digit = pj.ToneDesc()
                digit.freq1, digit.freq2 = 440, 0
                digit.on_msec, digit.off_msec, digit.volume = 20000, 0, 0
                tones = pj.ToneDescVector()
                tones.append(digit)
                tone.play(tones, True)
                tone.startTransmit(audio)
                self.tone = tone  # Keep a reference: the tone feeds the stream.


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


def call_state_in(account: SiteAccount, *states: str) -> Callable[[], bool]:
    """A pump condition: the account's current call is in one of ``states``."""

    def check() -> bool:
        call = account.call
        return call.state in states if call is not None else "null" in states

    return check


PICTURE_FAST_UPDATE = (
    '<?xml version="1.0" encoding="utf-8" ?>'
    "<media_control><vc_primitive><to_encoder><picture_fast_update/>"
    "</to_encoder></vc_primitive></media_control>"
)


def send_picture_fast_update(call: SiteCall | None) -> None:
    """SIP INFO asking for a video key frame (RFC 5168)."""
    if call is None:
        emit(event="error", message="no call for INFO")
        return
    param = pj.CallSendRequestParam()
    param.method = "INFO"
    param.txOption.contentType = "application/media_control+xml"
    param.txOption.msgBody = PICTURE_FAST_UPDATE
    call.sendRequest(param)


def hold_or_resume(call: SiteCall | None, *, is_hold: bool) -> None:
    """Put the call on hold (re-INVITE a=sendonly) or resume it (sendrecv)."""
    if call is None:
        emit(event="error", message="no call to hold")
        return
    param = pj.CallOpParam(True)
    if is_hold:
        call.setHold(param)
    else:
        param.opt.flag = pj.PJSUA_CALL_UNHOLD
        call.reinvite(param)


def emit_stats(call: SiteCall | None) -> None:
    if call is None or call.state not in ("confirmed", "early"):
        emit(event="stats", error="no confirmed or early call")
        return
    info = call.getInfo()
    for index, media in enumerate(info.media):
        if media.type != pj.PJMEDIA_TYPE_AUDIO:
            continue
        stat = call.getStreamStat(index)
        stream = call.getStreamInfo(index)
        emit(
            event="stats",
            index=index,
            codec=str(stream.codecName),
            remote_rtp=str(stream.remoteRtpAddress),
            tx_packets=int(stat.rtcp.txStat.pkt),
            rx_packets=int(stat.rtcp.rxStat.pkt),
            rx_loss=int(stat.rtcp.rxStat.loss),
        )


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
    parser.add_argument("--media-port", type=int, default=0)
    parser.add_argument(
        "--srtp",
        choices=("mandatory", "disabled"),
        default="mandatory",
        help="SRTP use for calls (disabled offers plain RTP/AVP)",
    )
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
    config.logConfig.consoleLevel = 5  # The writer gets what the console would.
    config.logConfig.decor = pj.PJ_LOG_HAS_NEWLINE
    config.medConfig.noVad = True  # Send RTP all the time: tests count packets.
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
    media = account_config.mediaConfig
    media.transportConfig.port = args.media_port
    if args.srtp == "mandatory":
        media.srtpUse = pj.PJMEDIA_SRTP_MANDATORY
        media.srtpSecureSignaling = 1  # Keys only over TLS.
    else:
        media.srtpUse = pj.PJMEDIA_SRTP_DISABLED
        media.srtpSecureSignaling = 0
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
        elif name in ("call", "call_late"):
            call = SiteCall(account)
            account.call = call
            param = pj.CallOpParam(True)
            if name == "call_late":  # INVITE without SDP: the offer comes back.
                param.opt.flag = pj.PJSUA_CALL_NO_SDP_OFFER
            call.makeCall(f"sip:{value}@{args.domain}", param)
            pump(
                ep,
                time.monotonic() + 15,
                call_state_in(account, "confirmed", "disconnected"),
            )
        elif name == "await_call":
            pump(
                ep,
                time.monotonic() + 15,
                call_state_in(account, "confirmed"),
            )
        elif name == "stats":
            emit_stats(account.call)
        elif name == "hangup":
            if account.call is not None:
                account.call.hangup(pj.CallOpParam(True))
            pump(
                ep,
                time.monotonic() + 5,
                call_state_in(account, "disconnected", "null"),
            )
        elif name == "await_end":
            pump(
                ep,
                time.monotonic() + float(value or 15),
                call_state_in(account, "disconnected"),
            )
        elif name == "ring_only":
            account.is_auto_answer = False
        elif name == "early_only":  # 183 with SDP: early media, no answer yet.
            account.is_auto_answer = False
            account.provisional_status = 183
        elif name == "answer":  # Answer the ringing (or early) call with 200.
            if account.call is not None:
                answer = pj.CallOpParam()
                answer.statusCode = 200
                account.call.answer(answer)
            pump(ep, time.monotonic() + 5, call_state_in(account, "confirmed"))
        elif name == "await_ringing":
            pump(ep, time.monotonic() + 15, call_state_in(account, "early"))
        elif name == "dial":
            call = SiteCall(account)
            account.call = call
            call.makeCall(f"sip:{value}@{args.domain}", pj.CallOpParam(True))
            pump(
                ep,
                time.monotonic() + 15,
                call_state_in(account, "early", "confirmed", "disconnected"),
            )
        elif name in ("dtmf", "dtmf4733"):
            # DTMF as SIP INFO (application/dtmf-relay), or RFC 4733 in RTP.
            if account.call is not None:
                param = pj.CallSendDtmfParam()
                param.digits = value
                param.method = (
                    pj.PJSUA_DTMF_METHOD_SIP_INFO
                    if name == "dtmf"
                    else pj.PJSUA_DTMF_METHOD_RFC2833
                )
                account.call.sendDtmf(param)
            pump(ep, time.monotonic() + 1)
        elif name == "info":
            send_picture_fast_update(account.call)
            pump(ep, time.monotonic() + 1)
        elif name == "codec":  # re-INVITE offering only this audio codec.
            for codec in ep.codecEnum2():
                wanted = str(codec.codecId).upper().startswith(value.upper() + "/")
                ep.codecSetPriority(codec.codecId, 255 if wanted else 0)
            if account.call is not None:
                account.call.reinvite(pj.CallOpParam(True))
            pump(ep, time.monotonic() + 2)
        elif name in ("hold", "unhold"):
            hold_or_resume(account.call, is_hold=name == "hold")
            pump(ep, time.monotonic() + 2)
        elif name == "call_another":
            another = SiteCall(account)
            account.other_calls.append(another)
            another.makeCall(f"sip:{value}@{args.domain}", pj.CallOpParam(True))
            pump(
                ep,
                time.monotonic() + 15,
                lambda placed=another: placed.state in ("confirmed", "disconnected"),
            )
            emit(
                event="call_another",
                state=another.state,
                status=another.last_status,
            )
        else:
            emit(event="error", message=f"unknown step {step}")
            return 2
    emit(event="done")
    ep.hangupAllCalls()
    pump(ep, time.monotonic() + 0.2)
    account.shutdown()
    ep.libDestroy()
    # Skip Python's finalizers: SWIG Call objects that outlive the library
    # trip PJSIP assertions when collected.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
