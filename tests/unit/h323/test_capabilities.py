"""SDP <-> H.245 capability mapping tables (gateway.h323.capabilities)."""

from pathlib import Path
from typing import Any

import pytest

from gateway.h323 import capabilities as caps
from gateway.h323 import codec, q931
from gateway.h323.capabilities import (
    H239_CONTROL_OID,
    H239_EXTENDED_VIDEO_OID,
    H264_NON_INTERLEAVED_OID,
    H264_OID,
    H264_SINGLE_NAL_OID,
    data_type_for,
    format_from_data_type,
    h245_capabilities_from_streams,
    h264_capability_from_params,
    h264_params_from_capability,
    media_packetization_for,
    role_of_data_type,
    streams_from_h245,
)
from gateway.h323.codec import H245Category, H245Message
from gateway.h323.errors import LocalH323Error
from gateway.sdp.codecs import H264Level, parse_h264_params
from gateway.sdp.media import (
    MediaFormat,
    MediaKind,
    MediaRole,
    StreamDescription,
    stream_from_sdp,
)
from gateway.sdp.model import Direction
from gateway.sdp.parse import parse_sdp

CORPUS = Path(__file__).parents[2] / "corpus"


def fmt(name: str, clock: int, fmtp: str | None = None) -> MediaFormat:
    """A format without payload type, as H.245 gives them."""
    return MediaFormat(name=name, clock_rate=clock, fmtp=fmtp)


def h264(fmtp: str) -> MediaFormat:
    """An H264/90000 format."""
    return fmt("H264", 90000, fmtp)


def param(identifier: int, kind: str, value: int) -> dict[str, Any]:
    """One H.241 collapsing GenericParameter."""
    return {
        "parameterIdentifier": ("standard", identifier),
        "parameterValue": (kind, value),
    }


def h264_capability(
    profile: int, level: int, *custom: tuple[int, int], rate: int = 19200
) -> dict[str, Any]:
    """An H.241 GenericCapability with profile, level and custom parameters."""
    return {
        "capabilityIdentifier": ("standard", H264_OID),
        "maxBitRate": rate,
        "collapsing": [
            param(41, "booleanArray", profile),
            param(42, "unsignedMin", level),
            *(param(i, "unsignedMin", v) for i, v in custom),
        ],
    }


def g7221(oid: tuple[int, ...], rate: int) -> tuple[str, dict[str, Any]]:
    """A G.722.1 genericAudioCapability."""
    return (
        "genericAudioCapability",
        {"capabilityIdentifier": ("standard", oid), "maxBitRate": rate},
    )


def audio(*formats: MediaFormat) -> StreamDescription:
    """A main audio stream."""
    return StreamDescription(kind=MediaKind.AUDIO, formats=formats)


def video(*formats: MediaFormat, kbps: int | None = None) -> StreamDescription:
    """A main video stream."""
    return StreamDescription(kind=MediaKind.VIDEO, formats=formats, bitrate_kbps=kbps)


def tcs_entries(*capabilities: Any) -> list[dict[str, Any]]:
    """A capabilityTable numbering ``capabilities`` from 1."""
    return [
        {"capabilityTableEntryNumber": i + 1, "capability": c}
        for i, c in enumerate(capabilities)
    ]


def descriptor(*sets: list[int], number: int = 1) -> dict[str, Any]:
    """One CapabilityDescriptor."""
    return {
        "capabilityDescriptorNumber": number,
        "simultaneousCapabilities": list(sets),
    }


G7221 = (0, 0, 7, 7221, 1, 0)
G7221C = (0, 0, 7, 7221, 1, 1, 0)

# -- audio tables ---------------------------------------------------------------

AUDIO_TO_H245 = [
    (fmt("PCMU", 8000), [("g711Ulaw64k", 20)]),
    (fmt("pcma", 8000), [("g711Alaw64k", 20)]),
    (fmt("G722", 8000), [("g722-64k", 20)]),
    (fmt("G729", 8000, "annexb=no"), [("g729AnnexA", 2), ("g729", 2)]),
    (
        fmt("G729", 8000),
        [
            ("g729AnnexAwAnnexB", 2),
            ("g729wAnnexB", 2),
            ("g729AnnexA", 2),
            ("g729", 2),
        ],
    ),
    (fmt("G729", 8000, "annexb=YES"), [("g729AnnexAwAnnexB", 2)]),
    (fmt("G7221", 16000, "bitrate=24000"), [g7221(G7221, 240)]),
    (fmt("G7221", 16000, "bitrate=32000"), [g7221(G7221, 320)]),
    (fmt("G7221", 32000, "bitrate=24000"), [g7221(G7221C, 240)]),
    (fmt("G7221", 32000, "bitrate=48000"), [g7221(G7221C, 480)]),
]


@pytest.mark.parametrize(("sdp_format", "expected"), AUDIO_TO_H245)
def test_audio_format_to_capabilities(
    sdp_format: MediaFormat, expected: list[Any]
) -> None:
    """Each audio format becomes its receive capabilities, in table order."""
    plan = h245_capabilities_from_streams([audio(sdp_format)])
    got = [e.capability[1] for e in plan.entries]
    assert got[: len(expected)] == expected
    assert all(e.capability[0] == "receiveAudioCapability" for e in plan.entries)


H245_TO_AUDIO = [
    (("g711Ulaw64k", 240), fmt("PCMU", 8000)),
    (("g711Alaw64k", 20), fmt("PCMA", 8000)),
    (("g722-64k", 20), fmt("G722", 8000)),
    (("g729", 2), fmt("G729", 8000, "annexb=no")),
    (("g729AnnexA", 3), fmt("G729", 8000, "annexb=no")),
    (("g729wAnnexB", 2), fmt("G729", 8000)),
    (("g729AnnexAwAnnexB", 2), fmt("G729", 8000)),
    (g7221(G7221, 240), fmt("G7221", 16000, "bitrate=24000")),
    (g7221(G7221, 320), fmt("G7221", 16000, "bitrate=32000")),
    (g7221(G7221C, 480), fmt("G7221", 32000, "bitrate=48000")),
]


@pytest.mark.parametrize(("capability", "expected"), H245_TO_AUDIO)
def test_audio_capability_to_format(capability: Any, expected: MediaFormat) -> None:
    """Each H.245 audio capability reads back as its SDP format."""
    streams = streams_from_h245(
        tcs_entries(("receiveAudioCapability", capability)), [descriptor([1])]
    )
    assert streams == [audio(expected)]
    assert format_from_data_type(("audioData", capability)) == expected


@pytest.mark.parametrize(
    "capability",
    [
        ("g711Ulaw56k", 20),
        ("g7231", {"maxAl-sduAudioFrames": 1, "silenceSuppression": False}),
        g7221(G7221, 160),  # not a G.722.1 rate
        g7221((0, 0, 7, 7222, 1, 0), 240),  # G.722.2 is not mapped
        ("genericAudioCapability", {"capabilityIdentifier": ("h221NonStandard", 1)}),
    ],
)
def test_unmapped_audio_capability_is_skipped(capability: Any) -> None:
    """Audio capabilities outside the table give no stream and no format."""
    table = tcs_entries(("receiveAudioCapability", capability))
    assert streams_from_h245(table, [descriptor([1])]) == []
    assert format_from_data_type(("audioData", capability)) is None


# -- H.264 (H.241) --------------------------------------------------------------

H264_LEVELS = [
    ("42e00a", 15),
    ("42f00b", 19),  # level 1b: level_idc 11 with constraint_set3
    ("42e00b", 22),
    ("42e00c", 29),
    ("42e00d", 36),
    ("42e014", 43),
    ("42e015", 50),
    ("42e016", 57),
    ("42e01e", 64),
    ("42e01f", 71),
    ("42e020", 78),
    ("42e028", 85),
    ("42e029", 92),
    ("42e02a", 99),
    ("42e032", 106),
    ("42e033", 113),
    ("42e034", 120),
]


@pytest.mark.parametrize(("plid", "h241_level"), H264_LEVELS)
def test_h264_level_both_ways(plid: str, h241_level: int) -> None:
    """profile-level-id maps to Baseline (64) and the H.241 level, and back."""
    params = parse_h264_params(f"profile-level-id={plid}")
    value = h264_capability_from_params(params, 1920)
    assert value["collapsing"] == [
        param(41, "booleanArray", 64),
        param(42, "unsignedMin", h241_level),
    ]
    (back,) = h264_params_from_capability(value)
    assert back.profile_level_id == plid
    assert back.level is params.level


H264_PROFILES = [
    ("42e01f", 64, "42e01f"),
    ("42801f", 64, "42e01f"),  # Baseline is written as Constrained Baseline
    ("4d401f", 32, "4d401f"),
    ("58001f", 16, "58001f"),
    ("64001f", 8, "64001f"),
    ("640c1f", 8, "64001f"),  # Constrained High
    ("6e001f", 4, "6e001f"),
    ("7a001f", 2, "7a001f"),
    ("f4001f", 1, "f4001f"),
]


@pytest.mark.parametrize(("plid", "bit", "back_plid"), H264_PROFILES)
def test_h264_profile_bits(plid: str, bit: int, back_plid: str) -> None:
    """Each profile is one H.241 profile bit; each bit reads back as a profile."""
    value = h264_capability_from_params(
        parse_h264_params(f"profile-level-id={plid}"), 1920
    )
    assert value["collapsing"][0] == param(41, "booleanArray", bit)
    assert [p.profile_level_id for p in h264_params_from_capability(value)] == [
        back_plid
    ]


H264_CUSTOM = [
    # fmtp extra, H.241 (identifier, value) pairs; level 3 (40500 MB/s,
    # 1620 MBs, 10000 kbit/s).
    ("max-mbps=108000", [(3, 216)]),
    ("max-fs=3600", [(4, 14)]),  # 14.06 units, rounded down
    ("max-br=14000", [(6, 560)]),
    ("max-smbps=216000", [(7, 432)]),
    ("max-mbps=108000;max-fs=8192;max-br=20000", [(3, 216), (4, 32), (6, 800)]),
    ("max-mbps=40000", []),  # below the level's own limit
    ("max-fs=1700", []),  # 6 units = 1536 MBs, below the level's 1620
]


@pytest.mark.parametrize(("extra", "custom"), H264_CUSTOM)
def test_h264_custom_parameters(extra: str, custom: list[tuple[int, int]]) -> None:
    """max-mbps/max-fs/max-br/max-smbps become H.241 custom values in H.241 units."""
    params = parse_h264_params(f"profile-level-id=42e01e;{extra}")
    value = h264_capability_from_params(params, 1920)
    assert value["collapsing"][2:] == [param(i, "unsignedMin", v) for i, v in custom]


H241_TO_SDP = [
    (h264_capability(64, 71), "profile-level-id=42e01f;packetization-mode=0"),
    (
        h264_capability(64, 64, (3, 216), (4, 14), (6, 800)),
        "profile-level-id=42e01e;packetization-mode=0;max-mbps=108000;"
        "max-fs=3584;max-br=20000",
    ),
    (
        h264_capability(8, 85, (7, 1000)),
        "profile-level-id=640028;packetization-mode=0;max-smbps=500000",
    ),
    # Custom values below the level limit say nothing and are dropped.
    (h264_capability(64, 71, (3, 100)), "profile-level-id=42e01f;packetization-mode=0"),
    # A level between table values reads as the lower one (3.1 < 75 < 3.2).
    (h264_capability(64, 75), "profile-level-id=42e01f;packetization-mode=0"),
]


@pytest.mark.parametrize(("value", "fmtp"), H241_TO_SDP)
def test_h241_capability_to_fmtp(value: dict[str, Any], fmtp: str) -> None:
    """An H.241 capability reads back as RFC 6184 fmtp with SDP units."""
    assert [p.to_fmtp() for p in h264_params_from_capability(value)] == [fmtp]


def test_h241_profile_mask_gives_one_format_per_profile() -> None:
    """Baseline|Main|High (104) gives three profile-level-ids in bit order."""
    plids = [
        p.profile_level_id
        for p in h264_params_from_capability(h264_capability(104, 85))
    ]
    assert plids == ["42e028", "4d4028", "640028"]


@pytest.mark.parametrize(
    "value",
    [
        h264_capability(64, 10),  # below level 1
        h264_capability(0, 71),  # no profile bit
        {"capabilityIdentifier": ("standard", H264_OID), "maxBitRate": 100},
        {
            "capabilityIdentifier": ("standard", (0, 0, 8, 241, 0, 0, 0)),
            "maxBitRate": 1,
        },
        {"capabilityIdentifier": ("h221NonStandard", 5)},
        "garbage",
        {
            "capabilityIdentifier": ("standard", H264_OID),
            "collapsing": [param(41, "logical", 0), "x", {"parameterIdentifier": 1}],
        },
    ],
)
def test_unusable_h264_capability_gives_nothing(value: Any) -> None:
    """Missing level or profile, other OIDs and malformed values give []."""
    assert h264_params_from_capability(value) == []


def test_h264_maxbitrate_from_stream_or_level() -> None:
    """maxBitRate (100 bit/s) is the stream's b=AS, else the level's MaxBR."""
    fmt_31 = h264("profile-level-id=42e01f")
    with_rate = h245_capabilities_from_streams([video(fmt_31, kbps=768)])
    without = h245_capabilities_from_streams([video(fmt_31)])
    assert with_rate.entries[0].capability[1][1]["maxBitRate"] == 7680
    assert without.entries[0].capability[1][1]["maxBitRate"] == 140000


def test_h264_unknown_profile_or_bad_fmtp_is_not_expressed() -> None:
    """An H.264 format H.241 cannot name, or with invalid fmtp, is declined."""
    stream = video(h264("profile-level-id=2c101f"), h264("profile-level-id=xyz"))
    plan = h245_capabilities_from_streams([stream])
    assert plan.entries == () and plan.declined == (stream,)


PACKETIZATION = [
    ("profile-level-id=42e01f;packetization-mode=1", ("oid", H264_NON_INTERLEAVED_OID)),
    ("profile-level-id=42e01f;packetization-mode=0", ("oid", H264_SINGLE_NAL_OID)),
    ("profile-level-id=42e01f", ("oid", H264_SINGLE_NAL_OID)),
]


@pytest.mark.parametrize(("fmtp", "descriptor"), PACKETIZATION)
def test_h264_packetization_mode_is_the_payload_oid(fmtp: str, descriptor: Any) -> None:
    """packetization-mode <-> H.241 RTP payload OID in mediaPacketization."""
    sdp_format = MediaFormat(name="H264", clock_rate=90000, fmtp=fmtp, payload_type=97)
    packetization = media_packetization_for(sdp_format)
    assert packetization == {"payloadDescriptor": descriptor, "payloadType": 97}
    data_type = data_type_for(sdp_format)
    assert data_type[0] == "videoData"
    back = format_from_data_type(data_type, ("rtpPayloadType", packetization))
    assert back is not None and back.h264 == parse_h264_params(fmtp)


def test_tcs_h264_modes_follow_the_h2250_capability() -> None:
    """Mode 1 (then 0) when the peer lists the non-interleaved OID, else mode 0."""
    table = tcs_entries(
        ("receiveVideoCapability", ("genericVideoCapability", h264_capability(64, 71)))
    )
    mode_1 = ("oid", list(H264_NON_INTERLEAVED_OID))  # pycrate may give lists
    multiplex = (
        "h2250Capability",
        {
            "mediaPacketizationCapability": {
                "rtpPayloadType": [{"payloadDescriptor": mode_1}]
            }
        },
    )
    with_1 = streams_from_h245(table, [descriptor([1])], multiplex_capability=multiplex)
    without = streams_from_h245(table, [descriptor([1])])
    assert [f.param("packetization-mode") for f in with_1[0].formats] == ["1", "0"]
    assert [f.param("packetization-mode") for f in without[0].formats] == ["0"]
    assert with_1[0].bitrate_kbps == 1920


# -- H.261 / H.263 ---------------------------------------------------------------

H263_FLAGS = dict.fromkeys(
    (
        "unrestrictedVector",
        "arithmeticCoding",
        "advancedPrediction",
        "pbFrames",
        "temporalSpatialTradeOffCapability",
    ),
    False,
)

PICTURE_TO_H245 = [
    (
        fmt("H263", 90000, "CIF4=1;CIF=1;QCIF=1;SQCIF=1"),
        (
            "h263VideoCapability",
            {"sqcifMPI": 1, "qcifMPI": 1, "cifMPI": 1, "cif4MPI": 1},
        ),
    ),
    (
        fmt("H263-1998", 90000, "cif=2;qcif=1;custom=1280,720,3;CIF16=40"),
        ("h263VideoCapability", {"qcifMPI": 1, "cifMPI": 2}),
    ),
    (fmt("H263", 90000), ("h263VideoCapability", {"qcifMPI": 1})),
    (
        fmt("H261", 90000, "CIF=1;QCIF=1"),
        ("h261VideoCapability", {"qcifMPI": 1, "cifMPI": 1}),
    ),
    (fmt("H261", 90000, "CIF=5"), ("h261VideoCapability", {"qcifMPI": 1})),
]


@pytest.mark.parametrize(("sdp_format", "expected"), PICTURE_TO_H245)
def test_picture_sizes_to_mpis(sdp_format: MediaFormat, expected: Any) -> None:
    """SDP picture sizes become MPIs; out-of-range ones drop; none means QCIF=1."""
    plan = h245_capabilities_from_streams([video(sdp_format, kbps=512)])
    (entry,) = plan.entries
    name, value = entry.capability[1]
    assert (name, {k: v for k, v in value.items() if k.endswith("MPI")}) == expected
    assert value["maxBitRate"] == 5120
    if name == "h263VideoCapability":
        assert {k: value[k] for k in H263_FLAGS} == H263_FLAGS


def test_h263_capability_reads_back_as_h263_and_h263_1998() -> None:
    """h263VideoCapability is H263, plus H263-1998 if the peer lists RFC 2429."""
    value = {"qcifMPI": 1, "cifMPI": 2, "maxBitRate": 3840, **H263_FLAGS}
    table = tcs_entries(("receiveVideoCapability", ("h263VideoCapability", value)))
    rfc2429 = ("rfc-number", 2429)
    multiplex = (
        "h2250Capability",
        {
            "mediaPacketizationCapability": {
                "rtpPayloadType": [{"payloadDescriptor": rfc2429}]
            }
        },
    )
    plain = streams_from_h245(table, [descriptor([1])])
    plus = streams_from_h245(table, [descriptor([1])], multiplex_capability=multiplex)
    expected = fmt("H263", 90000, "QCIF=1;CIF=2")
    assert plain == [video(expected, kbps=384)]
    assert plus[0].formats == (expected, fmt("H263-1998", 90000, "QCIF=1;CIF=2"))
    data_type = ("videoData", ("h263VideoCapability", value))
    assert format_from_data_type(data_type) == expected
    olc_1998 = format_from_data_type(
        data_type, ("rtpPayloadType", {"payloadDescriptor": rfc2429})
    )
    assert olc_1998 == fmt("H263-1998", 90000, "QCIF=1;CIF=2")


def test_h263_1998_packetization_is_rfc_2429() -> None:
    """H263-1998 names RFC 2429 in mediaPacketization; H263 and audio need none."""
    assert media_packetization_for(fmt("H263-1998", 90000)) == {
        "payloadDescriptor": ("rfc-number", 2429)
    }
    assert media_packetization_for(fmt("H263", 90000)) is None
    assert media_packetization_for(fmt("PCMU", 8000)) is None


# -- round trips -----------------------------------------------------------------

ROUND_TRIP_FORMATS = [
    fmt("PCMU", 8000),
    fmt("PCMA", 8000),
    fmt("G722", 8000),
    fmt("G729", 8000, "annexb=no"),
    fmt("G729", 8000),
    fmt("G7221", 16000, "bitrate=24000"),
    fmt("G7221", 16000, "bitrate=32000"),
    fmt("G7221", 32000, "bitrate=48000"),
    fmt("H263", 90000, "SQCIF=1;QCIF=1;CIF=1;CIF4=2;CIF16=4"),
    fmt("H263-1998", 90000, "QCIF=1;CIF=1"),
    fmt("H261", 90000, "QCIF=1;CIF=2"),
    h264("profile-level-id=42e01f;packetization-mode=1"),
    h264("profile-level-id=42e00c;packetization-mode=0;max-mbps=12000;max-fs=512"),
    h264("profile-level-id=640028;packetization-mode=1;max-br=50000"),
]


@pytest.mark.parametrize("sdp_format", ROUND_TRIP_FORMATS, ids=lambda f: f.name)
def test_open_logical_channel_round_trip(sdp_format: MediaFormat) -> None:
    """format -> DataType (+ packetization) -> format gives the format back."""
    data_type = data_type_for(sdp_format)
    packetization = media_packetization_for(sdp_format)
    olc_packetization = (
        None if packetization is None else ("rtpPayloadType", packetization)
    )
    assert format_from_data_type(data_type, olc_packetization) == sdp_format
    assert role_of_data_type(data_type) is MediaRole.MAIN


def test_tcs_round_trip_through_the_codec() -> None:
    """streams -> TCS -> PER -> TCS -> streams keeps every expressible format."""
    streams = [
        audio(*ROUND_TRIP_FORMATS[:8]),
        video(*ROUND_TRIP_FORMATS[8:], kbps=2048),
    ]
    plan = h245_capabilities_from_streams(streams)
    body = plan.terminal_capability_set(
        sequence_number=3, protocol_identifier=codec.h245_protocol_identifier()
    )
    message = H245Message(
        category=H245Category.REQUEST, name="terminalCapabilitySet", body=body
    )
    decoded = codec.decode_h245(codec.encode_h245(message)).body
    back = streams_from_h245(
        decoded["capabilityTable"],
        decoded["capabilityDescriptors"],
        multiplex_capability=decoded["multiplexCapability"],
    )
    assert [s.kind for s in back] == [MediaKind.AUDIO, MediaKind.VIDEO]
    assert back[0].formats == streams[0].formats
    for original in streams[1].formats:
        assert original in back[1].formats
    assert back[1].bitrate_kbps == 2048
    # G.729 with and without Annex B share g729AnnexA and g729: 10 entries.
    assert plan.simultaneous == (tuple(range(1, 11)), tuple(range(11, 17)))


def test_capability_values_are_shared_within_a_stream() -> None:
    """H.264 modes 0 and 1 with equal parameters give one capability entry."""
    plan = h245_capabilities_from_streams(
        [
            video(
                h264("profile-level-id=42e01f;packetization-mode=1"),
                h264("profile-level-id=42e01f"),
            )
        ]
    )
    assert len(plan.entries) == 1
    assert [p["payloadDescriptor"][1] for p in plan.packetizations] == [
        H264_NON_INTERLEAVED_OID,
        H264_SINGLE_NAL_OID,
    ]


@pytest.mark.parametrize(
    "name",
    [
        "polycom_hdx_offer",
        "cisco_tc_offer",
        "polycom_group_srtp_offer",
        "lifesize_icon_offer",
    ],
)
def test_room_system_offers_map_to_a_tcs(name: str) -> None:
    """Real room-system SDP: audio and main video are planned, the rest declined."""
    sdp = parse_sdp((CORPUS / "sdp" / "valid" / f"{name}.sdp").read_bytes())
    streams = [s for i in range(len(sdp.media)) if (s := stream_from_sdp(sdp, i))]
    plan = h245_capabilities_from_streams(streams)
    assert len(plan.simultaneous) == 2
    for stream in plan.declined:
        assert stream.role is MediaRole.SLIDES or stream.kind is MediaKind.APPLICATION
    kinds = {e.capability[0] for e in plan.entries}
    assert kinds == {"receiveAudioCapability", "receiveVideoCapability"}
    body = plan.terminal_capability_set(
        sequence_number=1, protocol_identifier=codec.h245_protocol_identifier()
    )
    encoded = codec.encode_h245(
        H245Message(
            category=H245Category.REQUEST, name="terminalCapabilitySet", body=body
        )
    )
    assert codec.decode_h245(encoded).body["capabilityTable"] == plan.capability_table()


# -- H.239 -----------------------------------------------------------------------

H239_VIDEO = (
    "extendedVideoCapability",
    {
        "videoCapability": [
            ("genericVideoCapability", h264_capability(64, 71, rate=7680))
        ],
        "videoCapabilityExtension": [
            {
                "capabilityIdentifier": ("standard", H239_EXTENDED_VIDEO_OID),
                "collapsing": [param(1, "booleanArray", 1)],
            }
        ],
    },
)
H239_CONTROL = (
    "genericControlCapability",
    {"capabilityIdentifier": ("standard", H239_CONTROL_OID)},
)


def test_h239_presentation_is_a_declined_slides_stream() -> None:
    """An H.239 extended video capability gives a SLIDES stream, inactive."""
    table = tcs_entries(
        ("receiveAudioCapability", ("g711Alaw64k", 20)),
        ("receiveVideoCapability", ("genericVideoCapability", h264_capability(64, 71))),
        ("receiveVideoCapability", H239_VIDEO),
        H239_CONTROL,
    )
    streams = streams_from_h245(table, [descriptor([1], [2], [3], [4])])
    assert [(s.kind, s.role, s.direction) for s in streams] == [
        (MediaKind.AUDIO, MediaRole.MAIN, Direction.SENDRECV),
        (MediaKind.VIDEO, MediaRole.MAIN, Direction.SENDRECV),
        (MediaKind.VIDEO, MediaRole.SLIDES, Direction.INACTIVE),
    ]
    assert streams[2].formats == (h264("profile-level-id=42e01f;packetization-mode=0"),)
    assert streams[2].bitrate_kbps == 768


def test_h239_logical_channel_is_recognised_not_mapped() -> None:
    """An H.239 OLC DataType has role SLIDES and no format (to be rejected)."""
    data_type = ("videoData", H239_VIDEO)
    assert role_of_data_type(data_type) is MediaRole.SLIDES
    assert format_from_data_type(data_type) is None
    other: Any = ("videoData", ("extendedVideoCapability", {"videoCapability": []}))
    assert role_of_data_type(other) is None
    assert role_of_data_type(("nullData", 0)) is None
    assert role_of_data_type("junk") is None


def test_sdp_slides_and_application_streams_are_declined() -> None:
    """Slides (RFC 4796) and application streams are not put in the TCS."""
    slides = StreamDescription(
        kind=MediaKind.VIDEO,
        role=MediaRole.SLIDES,
        formats=(h264("profile-level-id=42e01f"),),
    )
    application = StreamDescription(
        kind=MediaKind.APPLICATION, formats=(fmt("H224", 4800),)
    )
    only_aux = audio(fmt("telephone-event", 8000, "0-15"))
    plan = h245_capabilities_from_streams([slides, application, only_aux])
    assert plan.entries == () and plan.simultaneous == ()
    assert plan.declined == (slides, application, only_aux)
    assert plan.capability_descriptors() == []
    body = plan.terminal_capability_set(
        sequence_number=1, protocol_identifier=(0, 0, 8, 245, 0, 7)
    )
    assert "capabilityTable" not in body


# -- grouping and robustness ------------------------------------------------------


def test_descriptors_merge_by_kind_and_position() -> None:
    """The n-th audio set of each descriptor feeds the n-th audio stream."""
    table = tcs_entries(
        ("receiveAudioCapability", ("g711Ulaw64k", 20)),
        ("receiveAudioCapability", ("g722-64k", 20)),
        ("receiveAndTransmitAudioCapability", ("g711Alaw64k", 20)),
        ("receiveVideoCapability", ("genericVideoCapability", h264_capability(64, 71))),
    )
    streams = streams_from_h245(
        table, [descriptor([1, 3], [4]), descriptor([2, 1], number=2)]
    )
    assert streams[0].formats == (
        fmt("PCMU", 8000),
        fmt("PCMA", 8000),
        fmt("G722", 8000),
    )
    assert [s.kind for s in streams] == [MediaKind.AUDIO, MediaKind.VIDEO]


def test_two_audio_sets_give_two_audio_streams() -> None:
    """Two audio AlternativeCapabilitySets in one descriptor are two streams."""
    table = tcs_entries(
        ("receiveAudioCapability", ("g711Ulaw64k", 20)),
        ("receiveAudioCapability", ("g722-64k", 20)),
    )
    streams = streams_from_h245(table, [descriptor([1], [2])])
    assert streams == [audio(fmt("PCMU", 8000)), audio(fmt("G722", 8000))]


def test_tcs_without_descriptors_reads_the_whole_table() -> None:
    """Tolerance: no descriptors means one set of every table entry."""
    table = tcs_entries(
        ("receiveAudioCapability", ("g711Ulaw64k", 20)),
        (
            "receiveVideoCapability",
            ("h261VideoCapability", {"qcifMPI": 1, "maxBitRate": 640}),
        ),
    )
    streams = streams_from_h245(table, None)
    assert streams == [
        audio(fmt("PCMU", 8000)),
        video(fmt("H261", 90000, "QCIF=1"), kbps=64),
    ]
    assert streams_from_h245(None, None) == []


def test_unknown_and_malformed_capabilities_are_skipped() -> None:
    """Transmit-only, user input, non-standard and malformed entries never raise."""
    table: list[Any] = [
        *tcs_entries(
            ("transmitAudioCapability", ("g711Ulaw64k", 20)),
            ("receiveUserInputCapability", ("basicString", 0)),
            ("nonStandard", {"nonStandardIdentifier": ("h221NonStandard", {})}),
            ("receiveVideoCapability", ("h262VideoCapability", {})),
            ("receiveVideoCapability", ("h263VideoCapability", "junk")),
            ("receiveAudioCapability", "junk"),
            ("receiveVideoCapability", ("genericVideoCapability", None)),
            H239_CONTROL,
            ("receiveAudioCapability", ("g711Alaw64k", 20)),
            None,
        ),
        "junk",
        {
            "capabilityTableEntryNumber": "x",
            "capability": ("receiveAudioCapability", ("g722-64k", 20)),
        },
    ]
    descriptors: list[Any] = [
        descriptor(list(range(1, 11)), [99], [5, 6, 7]),
        "junk",
        {"capabilityDescriptorNumber": 2},
        {"simultaneousCapabilities": ["x", [9, [1], None]]},
    ]
    streams = streams_from_h245(table, descriptors, multiplex_capability="junk")
    assert streams == [audio(fmt("PCMA", 8000))]


@pytest.mark.parametrize(
    ("data_type", "packetization"),
    [
        (("nullData", 0), None),
        (("audioData", ("g711Ulaw56k", 20)), None),
        (("videoData", ("genericVideoCapability", "junk")), None),
        (("videoData", "junk"), None),
        ("junk", None),
        (("audioData", ("g711Ulaw64k", 20)), "junk"),
        (("data", {}), None),
    ],
)
def test_format_from_data_type_never_raises(data_type: Any, packetization: Any) -> None:
    """Unknown or malformed DataTypes and packetizations give None."""
    assert format_from_data_type(data_type, packetization) is None


@pytest.mark.parametrize(
    "sdp_format",
    [
        fmt("opus", 48000),
        fmt("G7221", 16000, "bitrate=16000"),
        fmt("telephone-event", 8000),
    ],
)
def test_data_type_for_inexpressible_format_raises(sdp_format: MediaFormat) -> None:
    """Asking for a DataType H.245 cannot express is our bug: LocalH323Error."""
    with pytest.raises(LocalH323Error):
        data_type_for(sdp_format)


def test_video_codec_in_an_audio_stream_is_not_expressed() -> None:
    """A format only counts in a stream of its own kind."""
    plan = h245_capabilities_from_streams([audio(fmt("H261", 90000))])
    assert plan.entries == () and len(plan.declined) == 1


def test_level_table_covers_every_h264_level() -> None:
    """Every H.264 level has an H.241 level value, increasing with rank."""
    values = [
        caps._H241_LEVEL[level] for level in sorted(H264Level, key=lambda v: v.rank)
    ]
    assert values == sorted(values) and len(set(values)) == len(H264Level)


# -- ooh323c corpus ----------------------------------------------------------------


def corpus_tcs() -> list[tuple[str, dict[str, Any]]]:
    """Every TerminalCapabilitySet in the ooh323c captures, separate or tunnelled."""
    found = []
    for path in sorted((CORPUS / "h323").glob("*.hex")):
        data = bytes.fromhex(path.read_text().strip())
        pdus: list[bytes] = []
        if path.name.endswith(".h245.hex"):
            pdus = [data]
        elif path.name.endswith(".q931.hex"):
            user_user = q931.decode(data).user_user
            if user_user is not None:
                pdus = list(codec.decode_h225(user_user).h245_control or ())
        for pdu in pdus:
            message = codec.decode_h245(pdu)
            if message.name == "terminalCapabilitySet":
                found.append((path.name, message.body))
    return found


def test_ooh323c_capability_sets_read_as_pcmu_audio() -> None:
    """ooh323c's TCS (g711Ulaw64k, 240 frames) is one PCMU audio stream."""
    sets = corpus_tcs()
    assert {name for name, _ in sets} >= {
        "slowstart-f015-0.h245.hex",
        "faststart-f012-0.q931.hex",
    }
    for _, body in sets:
        streams = streams_from_h245(
            body["capabilityTable"],
            body.get("capabilityDescriptors"),
            multiplex_capability=body.get("multiplexCapability"),
        )
        assert streams == [audio(fmt("PCMU", 8000))]


def test_ooh323c_fast_start_channels_read_as_pcmu() -> None:
    """ooh323c's fastStart OLCs carry PCMU one way and nullData the other."""
    data = bytes.fromhex((CORPUS / "h323" / "faststart-f004-0.q931.hex").read_text())
    setup = codec.decode_h225(q931.decode(data).user_user or b"")
    formats = []
    for item in setup.fast_start or ():
        olc = codec.decode_open_logical_channel(item)
        for direction in (
            "forwardLogicalChannelParameters",
            "reverseLogicalChannelParameters",
        ):
            if direction in olc:
                formats.append(format_from_data_type(olc[direction]["dataType"]))
    assert formats == [None, fmt("PCMU", 8000), fmt("PCMU", 8000)]
