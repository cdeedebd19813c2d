"""Licence plate layouts per region and the letter/digit look-alikes that correct a read into
one (``edge.plates.normalize_plate``; ``edge.plates.ctc`` weighs the same look-alikes)."""

REGIONS = ("us", "eu", "br", "cn")

# layout letters: L = letter, D = digit, A = either
PATTERNS: dict[str, list[tuple[str, str]]] = {
    "br": [("LLLDDDD", "BR old"), ("LLLDLDD", "BR Mercosul")],
    "eu": [("LLDDDLL", "FR/IT/HR"), ("LLDDDDLL", "HR/PL"), ("DDDDLLL", "ES"),
           ("LLDDLLL", "UK"), ("LDDDLLL", "NL/BE"), ("DLLLDDD", "BE"), ("LLLDDDD", "PL/SE/DK"),
           ("LLLLDDD", "DE"), ("LLLDDD", "SE/HU"), ("LLDDDDD", "PL/CZ"),
           ("LLDDDD", "DE/AT"), ("LDDDDD", "DE"), ("DLDDDDD", "CZ"), ("DLLDDDD", "CZ")],
    "us": [],
    # A: letter or digit; d, f: the letters D, F (new-energy plates)
    "cn": [("LAAAAA", "CN"), ("LdAAAAA", "CN new energy"), ("LfAAAAA", "CN new energy"),
           ("LDDDDDd", "CN new energy"), ("LDDDDDf", "CN new energy")],
}
# region label of a named layout in fields.plate (a layout shared by several countries: "eu")
EU_COUNTRY = {"ES": "eu-es", "UK": "eu-uk", "DE": "eu-de", "CZ": "eu-cz"}
TO_LETTER = {"0": "O", "1": "I", "2": "Z", "5": "S", "8": "B", "6": "G", "4": "A", "7": "T"}
TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "U": "0", "I": "1", "L": "1", "J": "1", "Z": "2",
            "S": "5", "B": "8", "G": "6", "A": "4", "T": "7"}
