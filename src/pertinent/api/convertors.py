"""Path convertors. ``{user_id:id}`` matches any user id: slashes, spaces and newlines included.

Starlette's built-in ``path`` convertor is ``.*``, which stops at a newline; Segment ids are opaque
strings, so the API must be able to read back any of them.
"""

from starlette.convertors import Convertor, register_url_convertor


class AnyIdConvertor(Convertor[str]):
    regex = r"[\s\S]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("id", AnyIdConvertor())
