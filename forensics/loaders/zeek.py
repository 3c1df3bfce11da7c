"""Zeek logs, TSV and JSON, into `zeek_<path>` tables: the two formats of the zeek family.

`zeek_tsv.py` reads Zeek's ASCII writer, `zeek_json.py` its JSON writer (plain and
json-streaming); `zeek_common.py` holds what they share.
"""

from forensics.loaders.zeek_common import decode_zeek_escapes
from forensics.loaders.zeek_json import ZeekJson
from forensics.loaders.zeek_tsv import ZeekTsv

__all__ = ["ZeekJson", "ZeekTsv", "decode_zeek_escapes"]
