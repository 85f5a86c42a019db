"""Unit tests of the H.323 codec foundation (TPKT, Q.931, ASN.1, cause tables)."""
