# -*- coding: utf-8 -*-
# Indented with tabs consistently; unicode identifiers; decorators with
# arguments; nested functions; a docstring with braces and quotes.
import functools


def retry(times=3):
	"""Retry {times} times: "quotes" and 'quotes' and {braces}."""
	def deco(fn):
		@functools.wraps(fn)
		def wrapper(*args, **kwargs):
			for attempt in range(times):
				try:
					return fn(*args, **kwargs)
				except OSError as exc:  # noqa: PERF203
					last = exc
			raise RuntimeError(f"gave up after {times}") from last
		return wrapper
	return deco


class Größe:
	π = 3.14159

	@retry(times=2)
	def fläche(self, r):
		return self.π * r ** 2

	@property
	def name(self):
		return "größe"

	class Inner:
		pass


data = {
	"a": [1, 2, 3],
	"b": {"c": (4, 5)},
}
if data:
	print(Größe().fläche(2), data["b"]["c"][0])
elif not data:
	pass
else:
	pass
while False:
	break
