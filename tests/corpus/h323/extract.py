"""Regenerate the H.323 corpus from the ooh323c captures in ../shared/h323.

Run ``python -m tests.corpus.h323.extract`` from the repository root.  tshark
gives each frame's TCP/UDP payload; TPKTs are split per TCP direction, so
one frame may yield several PDUs.  Each PDU is written as one hex line to
``<capture>-f<frame>-<index>.<kind>.hex`` where kind is ``q931`` (H.225.0
call signalling: the whole Q.931 message), ``h245`` (one
MultimediaSystemControlMessage) or ``ras`` (one RasMessage).  README.md
gets one provenance line per file.
"""

import subprocess
from dataclasses import dataclass
from pathlib import Path

from gateway.h323.tpkt import TpktFramer

CORPUS_DIR = Path(__file__).resolve().parent
SHARED_DIR = CORPUS_DIR.parents[3] / "shared" / "h323"
Q931_PORT = 17720
H245_PORT = 17730
RAS_PORT = 17719
CAPTURES = {
    "faststart": "ooh323c-faststart-tunneled-plus-grq.pcapng",
    "slowstart": "ooh323c-slowstart-separate-h245.pcapng",
}
TSHARK_DECODE = (
    "-d",
    f"tcp.port=={H245_PORT},h245",
    "-d",
    f"udp.port=={RAS_PORT},h225",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pdu:
    """One PDU: which capture and frame it came from, its kind and bytes."""

    capture: str
    frame: int
    index: int
    kind: str
    data: bytes

    @property
    def file_name(self) -> str:
        """The corpus file holding this PDU."""
        return f"{self.capture}-f{self.frame:03d}-{self.index}.{self.kind}.hex"


def tshark(capture: Path, *arguments: str) -> str:
    """Run tshark on a capture with the H.245 and RAS ports decoded."""
    return subprocess.run(
        ["tshark", "-r", str(capture), *TSHARK_DECODE, *arguments],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout


def extract(capture: str, shared_dir: Path = SHARED_DIR) -> list[Pdu]:
    """Every H.225.0, H.245 and RAS PDU of one capture, in frame order."""
    output = tshark(
        shared_dir / CAPTURES[capture],
        "-Y",
        f"tcp.len > 0 || udp.port == {RAS_PORT}",
        "-T",
        "fields",
        *("-e", "frame.number", "-e", "tcp.srcport", "-e", "tcp.dstport"),
        *("-e", "tcp.payload", "-e", "udp.payload"),
    )
    framers: dict[tuple[str, str], TpktFramer] = {}
    pdus: list[Pdu] = []
    for line in output.splitlines():
        frame, source, destination, tcp_payload, udp_payload = line.split("\t")
        if udp_payload:
            found = [("ras", bytes.fromhex(udp_payload))]
        else:
            ports = {int(source), int(destination)}
            kind = (
                "q931" if Q931_PORT in ports else "h245" if H245_PORT in ports else ""
            )
            if not kind:
                continue
            framer = framers.setdefault((source, destination), TpktFramer())
            found = [
                (kind, pdu) for pdu in framer.receive_data(bytes.fromhex(tcp_payload))
            ]
        for index, (kind, data) in enumerate(found):
            pdus.append(
                Pdu(
                    capture=capture, frame=int(frame), index=index, kind=kind, data=data
                )
            )
    return pdus


def main() -> None:
    """Rewrite the corpus hex files and their provenance README."""
    lines = [
        "# H.323 corpus: PDUs from a real, independent H.323 stack",
        "",
        "Each file holds one PDU as hex, written by `extract.py` (run",
        "`python -m tests.corpus.h323.extract`). `.q931.hex` is a whole Q.931",
        "message (H.225.0 call signalling, TPKT removed), `.h245.hex` one H.245",
        "MultimediaSystemControlMessage, `.ras.hex` one RAS datagram. The",
        "captures are of ooh323c's test endpoint (see /work/shared/h323/README.md).",
        "",
    ]
    for old in CORPUS_DIR.glob("*.hex"):
        old.unlink()
    for capture, file_name in CAPTURES.items():
        for pdu in extract(capture):
            (CORPUS_DIR / pdu.file_name).write_text(pdu.data.hex() + "\n")
            lines.append(
                f"- `{pdu.file_name}`: extracted from /work/shared/h323/{file_name},"
                f" frame {pdu.frame}" + (f" (PDU {pdu.index + 1})" if pdu.index else "")
            )
    (CORPUS_DIR / "README.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
