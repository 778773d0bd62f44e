"""Dates and times as the admin shows them wherever no zone-aware display is written.

Every instant to the second with its zone: "2026-12-01 21:05:07 UTC", not
"Dec. 1, 2026, 9:05 p.m.". Inputs keep Django's formats.
"""

DATETIME_FORMAT = "Y-m-d H:i:s T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s T"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i:s"
