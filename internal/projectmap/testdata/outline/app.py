"""Module docstring.

def not_a_function():
class NotAClass:
"""
import os

MAX_RETRIES = 3
DEFAULT_NAME: str = "x"
lower_case = 1
if MAX_RETRIES == 3:
    pass


@decorator
def top_level(a, b=2):
    def nested():
        pass
    return nested


async def fetch(url: str) -> bytes:
    text = '''
def inside_string():
    '''
    return b""


class Repo(Base):
    """Docstring with def fake():"""

    name = "repo"

    def __init__(self, path):
        self.path = path

    @property
    def size(self):
        return 0

    async def load(self):
        pass

    class Meta:
        ordering = ["name"]

        def meta_method(self):
            pass


def after_class():
    pass
