"""The SIPp trunk scenarios, each checked against a second SIPp on loopback.

Before the gateway's trunk tests rely on tests/interop/sipp/trunk_*.xml,
each one is played against a counterpart (selftest_*.xml, or the other
trunk scenario) so that a failure there points at the gateway, not at the
scenario. All runs are bounded by SIPp's own -timeout and stopped by PID.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.harness import require_tools
from tests.interop.sipp_trunk import (
    SippResult,
    SippTrunk,
    run_sipp_uac,
    split_messages,
)

pytestmark = pytest.mark.interop

TRANSPORTS = ["udp", "tcp"]


@pytest.fixture(autouse=True)
def _sipp_installed() -> None:
    require_tools(["sipp"])


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[list[SippTrunk]]:
    """SippTrunks made by a test; any still running at the end are stopped."""
    made: list[SippTrunk] = []
    yield made
    for peer in made:
        if peer.process is not None and peer.process.poll() is None:
            peer.stop()


def uas(
    peers: list[SippTrunk],
    tmp_path: Path,
    scenario: str,
    transport: str,
    *,
    calls: int | None = 1,
    pause_ms: int | None = None,
) -> SippTrunk:
    """Start a trunk scenario as a UAS; the `peers` fixture stops it."""
    trunk = SippTrunk(
        scenario,
        tmp_path,
        transport=transport,
        calls=calls,
        pause_ms=pause_ms,
        timeout_s=20,
    )
    peers.append(trunk)
    trunk.start()
    return trunk


def uac(
    tmp_path: Path,
    scenario: str,
    trunk: SippTrunk,
    *,
    hold_ms: int = 1000,
    keys: dict[str, str] | None = None,
) -> SippResult:
    """Run a UAC scenario against ``trunk`` to its end."""
    return run_sipp_uac(
        scenario,
        trunk.address,
        tmp_path,
        transport=trunk.transport,
        hold_ms=hold_ms,
        keys=keys,
        timeout_s=20,
    )


def echo(port: int, payload: bytes) -> bytes:
    """Send one UDP datagram to SIPp's media port and return what comes back."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(3)
        sock.sendto(payload, ("127.0.0.1", port))
        return sock.recv(2048)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_calling_in_uac_completes_call_with_answering_trunk_and_rtp_echo(
    peers: list[SippTrunk], tmp_path: Path, transport: str
) -> None:
    """trunk_uac_call and trunk_uas_answer complete INVITE/200/ACK/BYE; the
    answer is RTP/AVP PCMU on the echo port, which echoes audio and video."""
    trunk = uas(peers, tmp_path, "trunk_uas_answer.xml", transport)
    caller = SippTrunk(
        "trunk_uac_call.xml",
        tmp_path,
        transport=transport,
        remote=trunk.address,
        service="881234",
        keys={"caller": "+842439999999"},
        pause_ms=1500,
        timeout_s=20,
    )
    peers.append(caller)
    caller.start()
    trunk.wait_for_message("ACK sip:trunk@127.0.0.1")
    rtp = b"\x80\x00\x00\x01" + b"\x00" * 8 + b"voice"
    assert echo(trunk.media_port, rtp) == rtp
    assert echo(trunk.media_port + 2, b"video") == b"video"
    called = caller.wait()
    answered = trunk.wait()
    assert called.is_ok, called.describe()
    assert answered.is_ok, answered.describe()
    (invite,) = answered.received("INVITE ")
    assert f"m=audio {caller.media_port} RTP/AVP 0 8\n" in invite.body
    answer = answered.sent("SIP/2.0 200 OK")[0].body
    assert f"m=audio {trunk.media_port} RTP/AVP 0\n" in answer
    assert "a=rtpmap:0 PCMU/8000" in answer
    assert "INVITE sip:881234@" in answered.messages
    assert "From: <sip:+842439999999@" in answered.messages


def test_answering_trunk_picks_pcma_and_rejects_video(
    peers: list[SippTrunk], tmp_path: Path
) -> None:
    """An offer of PCMA + telephone-event + video gets PCMA alone and
    m=video 0 with the offered formats (checked by the UAC's regexps)."""
    trunk = uas(peers, tmp_path, "trunk_uas_answer.xml", "udp")
    called = uac(tmp_path, "selftest_uac_video.xml", trunk, hold_ms=0)
    answered = trunk.wait()
    assert called.is_ok, called.describe()
    assert answered.is_ok, answered.describe()
    assert "m=video 0 RTP/AVP 96 97\n" in answered.sent("SIP/2.0 200")[0].body


def test_answering_trunk_answers_options_then_a_call(
    peers: list[SippTrunk], tmp_path: Path
) -> None:
    """An OPTIONS probe gets 200 and counts as one SIPp call; the next
    INVITE is still answered."""
    trunk = uas(peers, tmp_path, "trunk_uas_answer.xml", "udp", calls=2)
    probed = uac(tmp_path, "selftest_uac_options.xml", trunk)
    assert probed.is_ok, probed.describe()
    assert re.search(r"SIP/2.0 200 OK\n(.+\n)*CSeq: 1 OPTIONS", probed.messages)
    called = uac(tmp_path, "trunk_uac_call.xml", trunk, hold_ms=0)
    assert called.is_ok, called.describe()
    assert trunk.wait().is_ok


def test_answering_trunk_fails_an_srtp_offer(
    peers: list[SippTrunk], tmp_path: Path
) -> None:
    """An RTP/SAVP offer gets 488, never 200, and fails the trunk's SIPp call,
    so a gateway offering SRTP to an srtp="off" trunk shows up as a failure."""
    trunk = uas(peers, tmp_path, "trunk_uas_answer.xml", "udp")
    called = uac(tmp_path, "selftest_uac_savp.xml", trunk)
    answered = trunk.wait()
    assert called.is_ok, called.describe()
    assert answered.returncode == 1, answered.describe()
    assert answered.sent("SIP/2.0 200") == []
    assert len(answered.sent("SIP/2.0 488")) >= 1
    assert "offer was not RTP/AVP with PCMU or PCMA" in answered.errors
    (offer,) = answered.received("INVITE ")
    assert "m=audio" in offer.body and "RTP/SAVP" in offer.body


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_overloaded_trunk_answers_503_to_invite_and_options(
    peers: list[SippTrunk], tmp_path: Path, transport: str
) -> None:
    """INVITE gets 503 with Retry-After and the ACK ends it; OPTIONS gets 503."""
    trunk = uas(peers, tmp_path, "trunk_uas_503.xml", transport, calls=2)
    called = uac(tmp_path, "selftest_uac_503.xml", trunk)
    assert called.is_ok, called.describe()
    probed = uac(tmp_path, "selftest_uac_options.xml", trunk)
    assert probed.is_ok, probed.describe()
    assert re.search(r"SIP/2.0 503 [^\n]*\n(.+\n)*CSeq: 1 OPTIONS", probed.messages)
    result = trunk.wait()
    assert result.is_ok, result.describe()
    assert len(result.sent("SIP/2.0 503")) == 2


def test_calling_in_against_503_fails(peers: list[SippTrunk], tmp_path: Path) -> None:
    """run_sipp_uac reports a failed call: trunk_uac_call wants a 200."""
    trunk = uas(peers, tmp_path, "trunk_uas_503.xml", "udp")
    called = uac(tmp_path, "trunk_uac_call.xml", trunk)
    assert called.returncode == 1
    assert "503" in called.errors


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_ringing_trunk_accepts_cancel(
    peers: list[SippTrunk], tmp_path: Path, transport: str
) -> None:
    """After 100 and 180, CANCEL gets 200 and the INVITE 487 (with the
    INVITE's CSeq), then the ACK ends the call on both sides."""
    trunk = uas(peers, tmp_path, "trunk_uas_ring_then_cancel.xml", transport)
    called = uac(tmp_path, "selftest_uac_cancel.xml", trunk)
    result = trunk.wait()
    assert called.is_ok, called.describe()
    assert result.is_ok, result.describe()
    (terminated,) = result.sent("SIP/2.0 487")
    assert "CSeq: 1 INVITE" in terminated.text


@pytest.mark.parametrize(
    ("transport", "selftest", "direction", "answer"),
    [
        ("udp", "selftest_uac_hold.xml", "sendonly", "recvonly"),
        ("udp", "selftest_uac_hold.xml", "inactive", "inactive"),
        ("tcp", "selftest_uac_hold.xml", "sendonly", "recvonly"),
        ("udp", "selftest_uac_hold_video.xml", "sendonly", "recvonly"),
        ("tcp", "selftest_uac_hold_video.xml", "inactive", "inactive"),
    ],
)
def test_held_trunk_answers_hold_and_resume(
    peers: list[SippTrunk],
    tmp_path: Path,
    transport: str,
    selftest: str,
    direction: str,
    answer: str,
) -> None:
    """Hold (a=sendonly or a=inactive) gets a=recvonly or a=inactive with
    o= version 2; resume gets a=sendrecv with version 3; then BYE. Offered
    video is rejected with port 0 in all three answers."""
    trunk = uas(peers, tmp_path, "trunk_uas_hold.xml", transport)
    called = uac(tmp_path, selftest, trunk, keys={"hold_direction": direction})
    result = trunk.wait()
    assert called.is_ok, called.describe()
    assert result.is_ok, result.describe()
    answers = [m.body for m in result.sent("SIP/2.0 200 OK") if m.body]
    assert len(answers) == 3
    assert "a=sendrecv" in answers[0] and " 1 IN IP4 " in answers[0]
    assert f"a={answer}" in answers[1] and " 2 IN IP4 " in answers[1]
    assert "a=sendrecv" in answers[2] and " 3 IN IP4 " in answers[2]
    has_video = "video" in selftest
    assert all(("m=video 0 RTP/AVP 96\n" in a) == has_video for a in answers)


def test_hold_trunk_fails_a_reinvite_that_does_not_hold(
    peers: list[SippTrunk], tmp_path: Path
) -> None:
    """A first re-INVITE still sendrecv is answered but fails the trunk's
    SIPp call: the check for a hold offer is real."""
    trunk = uas(peers, tmp_path, "trunk_uas_hold.xml", "udp")
    uac(tmp_path, "selftest_uac_hold.xml", trunk, keys={"hold_direction": "sendrecv"})
    result = trunk.wait()
    assert result.returncode == 1, result.describe()
    assert "with regexp 'a=(sendonly|inactive)'" in result.errors


def test_silent_trunk_never_answers(peers: list[SippTrunk], tmp_path: Path) -> None:
    """The silent trunk takes the INVITE and its retransmissions and sends
    nothing, for the pause given with pause_ms."""
    trunk = uas(peers, tmp_path, "trunk_uas_silent.xml", "udp", pause_ms=3000)
    called = uac(tmp_path, "selftest_uac_silent.xml", trunk)
    result = trunk.wait()
    assert called.is_ok, called.describe()
    assert result.is_ok, result.describe()
    assert len(result.received("INVITE sip:service@")) >= 2  # Retransmitted.
    assert [m for m in split_messages(result.messages) if m.is_sent] == []


def test_stop_ends_an_idle_trunk_cleanly(
    peers: list[SippTrunk], tmp_path: Path
) -> None:
    """A trunk run without a call limit and no call up ends on stop() with
    exit code 0, not forced."""
    trunk = uas(peers, tmp_path, "trunk_uas_answer.xml", "udp", calls=None)
    assert trunk.process is not None and trunk.process.poll() is None
    result = trunk.stop()
    assert trunk.process.poll() is not None
    assert result.is_ok, result.describe()


def test_stop_in_mid_call_is_forced_and_not_ok(
    peers: list[SippTrunk], tmp_path: Path
) -> None:
    """stop() during a call ends both SIPps, and their results say forced:
    SIPp's own exit code 0 after SIGTERM is not taken as success."""
    trunk = uas(peers, tmp_path, "trunk_uas_answer.xml", "udp", calls=None)
    caller = SippTrunk(
        "trunk_uac_call.xml",
        tmp_path,
        remote=trunk.address,
        keys={"caller": "0240000000"},
        pause_ms=30_000,
        timeout_s=40,
    )
    peers.append(caller)
    caller.start()
    trunk.wait_for_message("ACK sip:trunk@")
    stopped = [trunk.stop(grace_s=0.5), caller.stop(grace_s=0.5)]
    assert [r.is_forced for r in stopped] == [True, True]
    assert not any(r.is_ok for r in stopped)
    assert len(stopped[0].received("INVITE ")) == 1
