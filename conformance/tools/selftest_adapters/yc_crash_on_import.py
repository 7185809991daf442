"""Self-test adapter: crashes the interpreter while importing."""
import ctypes
ctypes.string_at(0)
