#!/usr/bin/env python3
"""What PAGEMAP_SCAN reports as written on this kernel (Linux 6.7+), asked
the way wasmtime 50.0.1's pool reset asks it, the way wasmtime 48 did, and
with the fix in pagemap-present-or-swapped.patch.

An anonymous mapping of 64 pages; page 0 is written, page 5 only read (the
kernel maps the shared zero page there), the other 62 never touched.
wasmtime 50.0.1 resets (and keeps resident) every page reported: here the
written page and the 62 never touched, all but the zero-page one.

    python3 bench/wasmtime-50/pagemap_scan_probe.py

On Linux 6.18 (BENCHMARKS.md, "wasmtime 50 (issue 19)"):
    wasmtime 50.0.1 (WRITTEN, not zero page, not file): 63 pages in 2 regions
    wasmtime 48 (... and PRESENT): 1 pages in 1 regions
    fix (... and PRESENT or SWAPPED): 1 pages in 1 regions
"""
import ctypes
import mmap
import os

PAGE = mmap.PAGESIZE
PAGES = 64
WRITTEN, FILE, PRESENT, SWAPPED, PFNZERO = 1 << 1, 1 << 2, 1 << 3, 1 << 4, 1 << 5


class Region(ctypes.Structure):
    _fields_ = [("start", ctypes.c_uint64), ("end", ctypes.c_uint64), ("categories", ctypes.c_uint64)]


class ScanArg(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "size", "flags", "start", "end", "walk_end", "vec", "vec_len", "max_pages",
        "category_inverted", "category_mask", "category_anyof_mask", "return_mask")]


PAGEMAP_SCAN = (3 << 30) | (ctypes.sizeof(ScanArg) << 16) | (ord("f") << 8) | 16

libc = ctypes.CDLL(None, use_errno=True)
memory = mmap.mmap(-1, PAGES * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
base = ctypes.addressof(ctypes.c_char.from_buffer(memory))
memory[0:1] = b"x"
_ = memory[5 * PAGE]
pagemap = os.open("/proc/self/pagemap", os.O_RDONLY)
regions = (Region * 64)()
for name, mask, anyof in [
    ("wasmtime 50.0.1 (WRITTEN, not zero page, not file)", WRITTEN | PFNZERO | FILE, 0),
    ("wasmtime 48 (... and PRESENT)", WRITTEN | PRESENT | PFNZERO | FILE, 0),
    ("fix (... and PRESENT or SWAPPED)", WRITTEN | PFNZERO | FILE, PRESENT | SWAPPED),
]:
    arg = ScanArg(ctypes.sizeof(ScanArg), 0, base, base + PAGES * PAGE, 0,
                  ctypes.addressof(regions), 64, PAGES, PFNZERO | FILE, mask, anyof, 0)
    found = libc.ioctl(pagemap, PAGEMAP_SCAN, ctypes.byref(arg))
    if found < 0:
        raise OSError(ctypes.get_errno(), "PAGEMAP_SCAN (Linux 6.7+)")
    pages = sum((regions[i].end - regions[i].start) // PAGE for i in range(found))
    print(f"{name}: {pages} pages in {found} regions")
