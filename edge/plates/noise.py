"""The registration out of a US plate's read: state names, slogans, the DMV address, dealer
frames and sticker months are not part of it (edge.plates.normalize_plate calls this for the
``us`` region and for any region)."""

from __future__ import annotations

import re

# Words on US plates and their frames that are not the registration: state names, slogans,
# the DMV web address, dealer frames, sticker months.
_STATES = ("ALABAMA ALASKA ARIZONA ARKANSAS CALIFORNIA COLORADO CONNECTICUT DELAWARE FLORIDA "
           "GEORGIA HAWAII IDAHO ILLINOIS INDIANA IOWA KANSAS KENTUCKY LOUISIANA MAINE MARYLAND "
           "MASSACHUSETTS MICHIGAN MINNESOTA MISSISSIPPI MISSOURI MONTANA NEBRASKA NEVADA "
           "NEWHAMPSHIRE NEWJERSEY NEWMEXICO NEWYORK NORTHCAROLINA NORTHDAKOTA OHIO OKLAHOMA "
           "OREGON PENNSYLVANIA RHODEISLAND SOUTHCAROLINA SOUTHDAKOTA TENNESSEE TEXAS UTAH "
           "VERMONT VIRGINIA WASHINGTON WESTVIRGINIA WISCONSIN WYOMING").split()
_NOISE_WORDS = set(_STATES) | set(
    "NEW NORTH SOUTH WEST RHODE ISLAND CAROLINA DAKOTA HAMPSHIRE JERSEY MEXICO YORK "
    "THE OF AND IN FOR TO STATE STATES LAND GREAT FACES PLACES SUNSHINE LIVE FREE OR DIE "
    "FAMOUS POTATOES FIRST FLIGHT GARDEN VACATIONLAND LINCOLN EMPIRE GOLDEN LONE STAR "
    "GRAND CANYON SPIRIT AMERICA AMERICAS LAKES WILD WONDERFUL NATURAL BEAUTY ENCHANTMENT "
    "TREASURE BIG SKY COUNTRY HEART DIXIE PEACH DISCOVER EXPLORE PURE MICHIGAN YOSEMITE "
    "DMV GOV COM ORG WWW DEALER MOTORS AUTO AUTOS HONDA TOYOTA FORD CHEVROLET NISSAN "
    "JAN FEB MAR APR MAY JUN JUL AUG SEP SEPT OCT NOV DEC USA US".split())


def strip_plate_noise(text: str) -> str:
    """The registration out of a US plate's read: words that are state names, slogans, web
    addresses, dealer-frame or sticker words are dropped, and of what remains the run of
    neighbouring tokens that looks most like a registration (2-8 characters, a digit in it,
    the longest) is kept. A read that is only noise words is returned as it was (a vanity
    plate may spell one)."""
    up = text.upper()
    tokens = [t for t in re.split(r"[^A-Z0-9]+", up) if t]
    if len(tokens) <= 1:
        v = tokens[0] if tokens else ""
        # one run with a state name glued on (``CALIFORNIA7ABC123``)
        for st in sorted(_STATES, key=len, reverse=True):
            if len(v) > len(st) + 1 and (v.startswith(st) or v.endswith(st)):
                rest = v[len(st):] if v.startswith(st) else v[:-len(st)]
                if 2 <= len(rest) <= 8:
                    return rest
        return text
    kept = [t for t in tokens if t not in _NOISE_WORDS]
    if not kept:
        return text
    best = None
    for i in range(len(kept)):
        for j in range(i + 1, len(kept) + 1):
            w = "".join(kept[i:j])
            if len(w) > 8:
                break
            key = (len(w) >= 2, bool(re.search(r"\d", w)), len(w))
            if best is None or key > best[0]:
                best = (key, w)
    return best[1] if best else text
